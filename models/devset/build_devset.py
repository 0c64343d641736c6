"""Rebuild the labelled development set from Debian packages.

Reads ``models/devset/manifest.csv`` and writes every clip it lists to
``data/devset/clips/<label>/<clip_id>.wav`` (16 kHz, mono, 16-bit PCM).
Clips that already exist are skipped, so the script is idempotent.

Kinds of rows (see ``models/devset/README.md``):

* music (label calm / aggressive / neutral): ``package`` is downloaded with
  ``apt-get download``, the file ``path_in_package`` is extracted and
  ``start_s``/``duration_s`` is cut with ffmpeg.  A path of the form
  ``archive.zip!member`` names a file inside a zip archive of the package
  (0 A.D.'s ``public.zip``, UFO:AI's ``0music.pk3``).
* speech synthesized (``recipe`` starts with ``tts=``): espeak-ng or a
  festival voice reads one of the texts in ``TEXTS``.
* speech recorded (``recipe`` starts with ``concat``): the files matching the
  glob ``path_in_package`` are sorted, ``first=`` skips some, and they are
  concatenated with small gaps up to ``duration_s``.
* speech over music (``recipe`` starts with ``mix``): a speech clip with a
  music clip of this manifest underneath, ``music_db`` below the speech.

Every speech recipe may carry ``aug=`` with one of: none, pitchN / pitch-N
(cents), tempo0.85 (rate), tel (300-3400 Hz, 8 kHz round trip), noiseNN
(pink noise at NN dB SNR), reverb, or several joined by ``,``.

Rows whose ``recipe`` contains ``example=PATH`` are also encoded, with
``--examples``, as the shipped Ogg Vorbis examples (44.1 kHz, q3). Rows with
``check=PATH`` are only that: short mono clips for the judgement regression test
(``tests/data/judgement/``), encoded with ``--examples`` and never cut as devset clips.

Usage: .venv/bin/python models/devset/build_devset.py [--only LABEL]
       [--jobs N] [--examples] [--keep]
"""

from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import wave
import zipfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = ROOT / "models" / "devset" / "manifest.csv"
DATA = ROOT / "data" / "devset"
CLIPS = DATA / "clips"
CACHE = DATA / "cache"
SR = 16000
MUSIC_LABELS = ("calm", "aggressive", "neutral")

# Tools every run needs: ffmpeg cuts and encodes, sox mixes and augments. Model builders
# need them; the product and its tests do not, so scripts/setup-system leaves them out.
TOOL_PACKAGES = ["ffmpeg", "sox"]

# Packages that have to be installed (not just extracted) for the speech rows.
TTS_PACKAGES = [
    "espeak-ng",
    "festival",
    "festvox-kallpc16k",
    "festvox-kdlpc16k",
    "festvox-us-slt-hts",
    "festvox-italp16k",
    "festvox-itapc16k",
    "festvox-ru",
    "festvox-czech-dita",
    "festvox-ca-ona-hts",
]

FESTIVAL_VOICES = {
    # voice name -> (festival function, language of its text)
    "kal": "voice_kal_diphone",
    "ked": "voice_ked_diphone",
    "slt": "voice_cmu_us_slt_arctic_hts",
    "lp": "voice_lp_diphone",
    "pc": "voice_pc_diphone",
    "ru": "voice_msu_ru_nsh_clunits",
    "dita": "voice_czech_dita",
    "ona": "voice_upc_ca_ona_hts",
}

# Texts read by the synthesizers.  Written for this set; ~15-30 s each.
TEXTS = {
    "en1": (
        "Good evening and welcome back to the program. Tonight we are talking about "
        "the old railway line that runs along the river, why it was closed forty years "
        "ago, and what the town council wants to do with it now. My guest has walked "
        "every mile of it, so let us begin with the bridge near the mill."
    ),
    "en2": (
        "Before you start, please check that the power cable is unplugged. Remove the "
        "four screws on the back panel and lift the cover carefully. You will see a "
        "small green board on the left side. Do not touch the capacitors. If anything "
        "looks burnt or smells strange, stop here and call our support line."
    ),
    "en3": (
        "The weather service expects light rain in the north during the morning, "
        "clearing by noon, with temperatures between twelve and sixteen degrees. In the "
        "south it stays dry and sunny. Tomorrow a stronger wind arrives from the west, "
        "so if you are planning to sail, you may want to do it today."
    ),
    "en4": (
        "So I told him, look, I am not saying the plan is bad, I am saying we tried "
        "exactly this last spring and it did not work. He just laughed and said that "
        "this time the numbers were different. Well, were they? I honestly do not know. "
        "Anyway, we agreed to meet again on Thursday and look at it together."
    ),
    "de1": (
        "Guten Abend, meine Damen und Herren. Der Stadtrat hat heute beschlossen, die "
        "alte Brücke am Hafen zu erneuern. Die Arbeiten beginnen im Frühjahr und sollen "
        "etwa zwei Jahre dauern. Während dieser Zeit fahren die Busse über die "
        "Nordstraße. Anwohner können sich im Rathaus über die Umleitungen informieren."
    ),
    "de2": (
        "Also, ich weiß nicht genau, wie das passiert ist. Ich war nur kurz in der Küche, "
        "und als ich zurückkam, lag das Buch auf dem Boden und der Hund saß daneben, als "
        "wäre nichts gewesen. Natürlich hat er so getan, als wüsste er von nichts. Das "
        "macht er immer so, seit er bei uns wohnt."
    ),
    "fr1": (
        "Bonsoir à tous et bienvenue dans notre émission. Ce soir, nous parlons de la "
        "forêt qui entoure le village, de son histoire et des arbres les plus anciens de "
        "la région. Notre invitée travaille ici depuis vingt ans. Elle connaît chaque "
        "sentier, chaque ruisseau, et elle va nous raconter comment tout a commencé."
    ),
    "fr2": (
        "Pour préparer cette recette, il vous faut trois oeufs, deux cents grammes de "
        "farine, un demi-litre de lait et une pincée de sel. Mélangez d'abord la farine "
        "et les oeufs, puis ajoutez le lait petit à petit. Laissez reposer la pâte une "
        "heure avant de faire cuire les crêpes dans une poêle bien chaude."
    ),
    "es1": (
        "Buenas tardes y bienvenidos. Hoy vamos a hablar del mercado central de la "
        "ciudad, que cumple cien años este mes. Muchos de los puestos pertenecen a la "
        "misma familia desde hace tres generaciones. Hemos hablado con algunos de ellos "
        "para saber cómo ha cambiado el barrio y qué esperan del futuro."
    ),
    "es2": (
        "Mira, yo no digo que sea imposible, digo que necesitamos más tiempo. Si "
        "empezamos el lunes y trabajamos todos juntos, quizás lo terminamos a finales "
        "de mes. Pero si alguien se pone enfermo otra vez, no llegamos. Por eso te pido "
        "que hables con el jefe antes de prometer nada al cliente."
    ),
    "it1": (
        "Buonasera e benvenuti. Stasera parliamo del piccolo porto di pescatori che si "
        "trova a sud della città. Ogni mattina, prima dell'alba, le barche escono in mare "
        "e tornano verso mezzogiorno. Abbiamo chiesto ai pescatori come è cambiato il "
        "loro lavoro negli ultimi trent'anni e che cosa si aspettano dal futuro."
    ),
    "it2": (
        "Allora, prima di tutto bisogna aprire la finestra e far entrare un po' d'aria. "
        "Poi si prende il vaso grande, quello blu, e si mette vicino alla porta. Non "
        "dimenticare di dare l'acqua alle piante del balcone, perché domani fa molto "
        "caldo e sabato non ci siamo."
    ),
    "pt1": (
        "Boa noite e bem-vindos ao nosso programa. Hoje vamos falar sobre a velha "
        "estação de comboios que fica no centro da cidade. Depois de muitos anos "
        "fechada, a câmara decidiu transformá-la num museu. As obras começam em março e "
        "devem terminar antes do verão do próximo ano."
    ),
    "nl1": (
        "Goedenavond en welkom bij ons programma. Vanavond praten we over de oude molen "
        "aan de rand van het dorp. Hij is meer dan tweehonderd jaar oud en draait nog "
        "steeds elke zaterdag. De molenaar vertelt ons hoe hij het vak heeft geleerd en "
        "waarom hij er nooit mee wil stoppen."
    ),
    "pl1": (
        "Dobry wieczór państwu. Dzisiaj porozmawiamy o starym moście nad rzeką, który "
        "od wielu lat czeka na remont. Mieszkańcy miasta zebrali już ponad tysiąc "
        "podpisów. Burmistrz obiecał, że prace rozpoczną się na wiosnę, ale wielu ludzi "
        "w to nie wierzy."
    ),
    "sv1": (
        "God kväll och välkomna till kvällens program. Vi ska prata om den gamla "
        "fyren ute på ön, som byggdes för mer än hundra år sedan. I somras öppnades den "
        "för besökare igen, och nu kommer folk från hela landet för att se utsikten "
        "över havet."
    ),
    "ru1": (
        "Добрый вечер, дорогие слушатели. Сегодня мы поговорим о старом парке в центре "
        "города. Летом здесь гуляют семьи с детьми, а зимой заливают каток. В этом году "
        "парк будут ремонтировать, и многие жители волнуются, что деревья вырубят."
    ),
    "cs1": (
        "Dobrý večer, vážení posluchači. Dnes budeme mluvit o staré knihovně na náměstí, "
        "která letos slaví dvě stě let. Knihovnice nám ukáže nejstarší knihy a poví nám, "
        "jak se práce s knihami změnila za posledních třicet let."
    ),
    "fi1": (
        "Hyvää iltaa ja tervetuloa ohjelmaan. Tänään puhumme järven rannalla olevasta "
        "vanhasta saunasta, joka rakennettiin yli sata vuotta sitten. Kesällä sinne "
        "tulee paljon vieraita, ja talvella moni käy uimassa avannossa."
    ),
    "tr1": (
        "İyi akşamlar sevgili dinleyiciler. Bugün şehrin merkezindeki eski çarşıdan "
        "bahsedeceğiz. Burada yüz yıldan fazla zamandır aynı aileler dükkan işletiyor. "
        "Onlarla konuştuk ve mahallenin nasıl değiştiğini sorduk."
    ),
    "ca1": (
        "Bona nit i benvinguts al programa. Avui parlarem del mercat vell del poble, que "
        "fa cent anys que obre cada dissabte. Hem parlat amb els venedors per saber com "
        "ha canviat el barri i què esperen del futur."
    ),
    "hi1": (
        "नमस्ते और आप सभी का स्वागत है। आज हम शहर के पुराने बाज़ार के बारे में बात करेंगे, जो सौ साल से भी "
        "पुराना है। यहाँ कई दुकानें एक ही परिवार की तीन पीढ़ियों से चल रही हैं।"
    ),
}


def log(msg: str) -> None:
    print(msg, flush=True)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, **kw)


def read_manifest() -> list[dict]:
    with MANIFEST.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def out_path(row: dict) -> Path:
    return CLIPS / row["label"] / f"{row['clip_id']}.wav"


def recipe(row: dict) -> dict:
    """Parse ``key=value;key=value`` (a bare word maps to '')."""
    out = {}
    for part in (row.get("recipe") or "").split(";"):
        part = part.strip()
        if not part:
            continue
        k, _, v = part.partition("=")
        out[k] = v
    return out


# --------------------------------------------------------------- wav helpers


def read_wav(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        assert w.getframerate() == SR and w.getnchannels() == 1, path
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


def write_wav(path: Path, x: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.wav")
    y = np.clip(np.round(x * 32767.0), -32768, 32767).astype("<i2")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes(y.tobytes())
    os.replace(tmp, path)


def to_16k(src: Path, start: float = 0.0, dur: float | None = None) -> np.ndarray:
    """Decode any audio file to mono 16 kHz float32 with ffmpeg."""
    cmd = ["ffmpeg", "-nostdin", "-v", "error"]
    if start:
        cmd += ["-ss", f"{start:.3f}"]
    if dur:
        cmd += ["-t", f"{dur:.3f}"]
    cmd += ["-i", str(src), "-ac", "1", "-ar", str(SR), "-f", "s16le", "-"]
    raw = run(cmd, capture_output=True).stdout
    return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0


def sox_fx(x: np.ndarray, effects: list[str]) -> np.ndarray:
    """Run a sox effect chain on mono 16 kHz audio."""
    with tempfile.TemporaryDirectory() as td:
        a, b = Path(td, "a.wav"), Path(td, "b.wav")
        write_wav(a, normalize(x, 0.5))  # headroom for reverb/compand
        run(["sox", "-V1", str(a), str(b), *effects, "remix", "-", "rate", str(SR)])
        with wave.open(str(b), "rb") as w:
            sr = w.getframerate()
        if sr != SR:
            raise RuntimeError("sox changed the rate")
        return read_wav(b)


def rms_db(x: np.ndarray) -> float:
    """Loudness of the active part (frames above -50 dBFS) in dBFS."""
    n = 400
    frames = x[: len(x) // n * n].reshape(-1, n)
    e = (frames**2).mean(axis=1)
    active = e[e > 1e-5]
    if active.size == 0:
        return -100.0
    return 10 * np.log10(active.mean())


def seed_of(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def pink_noise(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(n + 1)
    spec = np.fft.rfft(white)
    f = np.arange(spec.size)
    f[0] = 1
    pink = np.fft.irfft(spec / np.sqrt(f), n=n + 1)[:n]
    return (pink / (np.sqrt((pink**2).mean()) + 1e-12)).astype(np.float32)


def augment(x: np.ndarray, aug: str, seed: int) -> np.ndarray:
    for step in (aug or "none").split(","):
        if step in ("", "none"):
            continue
        if step.startswith("pitch"):
            x = sox_fx(x, ["pitch", step[5:]])
        elif step.startswith("tempo"):
            x = sox_fx(x, ["tempo", "-s", step[5:]])
        elif step == "tel":
            x = sox_fx(
                x,
                [
                    "sinc",
                    "300-3400",
                    "rate",
                    "8000",
                    "compand",
                    "0.02,0.2",
                    "-60,-60,-30,-15,0,-8",
                    "-3",
                ],
            )
        elif step.startswith("noise"):
            snr = float(step[5:])
            noise = pink_noise(len(x), seed)
            level = 10 ** ((rms_db(x) - snr) / 20)
            x = x + noise * level
        elif step == "reverb":
            x = sox_fx(x, ["reverb", "60", "50", "90", "100", "10"])
        else:
            raise ValueError(f"unknown augmentation {step!r}")
    return x


def normalize(x: np.ndarray, peak: float = 0.89) -> np.ndarray:
    m = float(np.abs(x).max()) if x.size else 0.0
    return x * (peak / m) if m > 1e-6 else x


# ------------------------------------------------------------ package access


def deb_file(pkg: str) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    debs = sorted(CACHE.glob(f"{pkg}_*.deb"))
    if not debs:
        log(f"[{pkg}] apt-get download")
        run(["apt-get", "download", "-q", pkg], cwd=CACHE, stdout=subprocess.DEVNULL)
        debs = sorted(CACHE.glob(f"{pkg}_*.deb"))
    return debs[-1]


def extract(pkg: str, members: set[str]) -> Path:
    """Extract the named files (globs allowed) of a package into the cache."""
    dest = CACHE / pkg
    todo = sorted(m for m in members if not glob.glob(str(dest / m), recursive=True))
    if todo:
        deb = deb_file(pkg)
        dest.mkdir(parents=True, exist_ok=True)
        log(f"[{pkg}] extracting {len(todo)} path(s)")
        tar = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE)
        run(
            ["tar", "-x", "--wildcards", "-C", str(dest), *[f"./{m}" for m in todo]],
            stdin=tar.stdout,
        )
        tar.wait()
    return dest


def cleanup(pkg: str) -> None:
    shutil.rmtree(CACHE / pkg, ignore_errors=True)
    for deb in CACHE.glob(f"{pkg}_*.deb"):
        deb.unlink()


def source_file(pkg: str, path: str, tmpdir: Path) -> Path:
    """The extracted file for ``path``; ``a.zip!member`` is unpacked to tmpdir."""
    dest = CACHE / pkg
    if "!" in path:
        archive, member = path.split("!", 1)
        out = tmpdir / (hashlib.sha1(path.encode()).hexdigest()[:12] + Path(member).suffix)
        if not out.exists():
            with zipfile.ZipFile(dest / archive) as z, z.open(member) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        return out
    return dest / path


# ------------------------------------------------------------------ builders


def build_music(rows: list[dict], jobs: int, keep: bool) -> None:
    by_pkg: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        by_pkg[r["package"]].append(r)
    for pkg, prow in sorted(by_pkg.items()):
        todo = [r for r in prow if not out_path(r).exists()]
        if not todo:
            log(f"[{pkg}] {len(prow)} clips present")
            continue
        extract(pkg, {r["path_in_package"].split("!")[0] for r in todo})
        tmpdir = Path(tempfile.mkdtemp(dir=CACHE, prefix=f"{pkg}-members-"))
        try:
            for r in todo:  # unzip members once, serially
                source_file(pkg, r["path_in_package"], tmpdir)

            def cut(r: dict, pkg: str = pkg, tmpdir: Path = tmpdir) -> None:
                src = source_file(pkg, r["path_in_package"], tmpdir)
                x = to_16k(src, float(r["start_s"]), float(r["duration_s"]))
                write_wav(out_path(r), x)

            with ThreadPoolExecutor(max_workers=jobs) as ex:
                list(ex.map(cut, todo))
            log(f"[{pkg}] cut {len(todo)} clips")
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
            if not keep:
                cleanup(pkg)


def synth(rec: dict, tmp: Path) -> np.ndarray:
    text = TEXTS[rec["text"]]
    wav = tmp / "tts.wav"
    if rec["tts"] == "espeak-ng":
        cmd = ["espeak-ng", "-v", rec["voice"], "-s", rec.get("speed", "160")]
        cmd += ["-p", rec.get("pitch", "50"), "-w", str(wav), text]
        run(cmd)
    elif rec["tts"] == "festival":
        txt = tmp / "t.txt"
        enc = {"ru": "utf-8", "dita": "iso-8859-2"}.get(rec["voice"], "latin-1")
        txt.write_bytes(text.encode(enc, errors="replace"))
        run(
            ["text2wave", "-eval", f"({FESTIVAL_VOICES[rec['voice']]})", "-o", str(wav), str(txt)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    else:
        raise ValueError(rec["tts"])
    return to_16k(wav)


def concat_recordings(row: dict, rec: dict, tmp: Path) -> np.ndarray:
    files = sorted(glob.glob(str(CACHE / row["package"] / row["path_in_package"]), recursive=True))
    first = int(rec.get("first", "0"))
    step = int(rec.get("step", "1"))
    gap = np.zeros(int(float(rec.get("gap", "0.3")) * SR), dtype=np.float32)
    want = float(row["duration_s"]) * SR
    parts, total = [], 0
    for f in files[first::step]:
        y = to_16k(Path(f))
        if y.size == 0:
            continue
        parts += [y, gap]
        total += y.size + gap.size
        if total >= want:
            break
    if not parts:
        raise RuntimeError(f"no recordings for {row['clip_id']}")
    return np.concatenate(parts)


def build_speech(rows: list[dict], jobs: int, keep: bool) -> None:
    todo = [r for r in rows if not out_path(r).exists()]
    if not todo:
        log(f"[speech] {len(rows)} clips present")
        return
    need: dict[str, set[str]] = defaultdict(set)
    for r in todo:
        if recipe(r).get("concat") is not None:
            need[r["package"]].add(r["path_in_package"])
    for pkg, members in need.items():
        extract(pkg, members)

    def one(r: dict) -> None:
        rec = recipe(r)
        with tempfile.TemporaryDirectory() as td:
            tmp = Path(td)
            x = synth(rec, tmp) if "tts" in rec else concat_recordings(r, rec, tmp)
            if "tts" in rec and x.size < 12 * SR:  # short reading: read it twice
                x = np.concatenate([x, np.zeros(int(0.6 * SR), np.float32), x])
            x = augment(x, rec.get("aug", "none"), seed_of(r["clip_id"]))
            x = x[: int(float(r["duration_s"]) * SR)]
            write_wav(out_path(r), normalize(x, 0.7))

    with ThreadPoolExecutor(max_workers=jobs) as ex:
        for r, err in zip(todo, ex.map(lambda r: _try(one, r), todo), strict=True):
            if err:
                log(f"  FAILED {r['clip_id']}: {err}")
    log(f"[speech] built {len(todo)} clips")
    if not keep:
        for pkg in need:
            cleanup(pkg)


def _try(fn, arg):
    try:
        fn(arg)
        return None
    except Exception as e:  # report and go on with the other clips
        return repr(e)


def build_mixes(rows: list[dict], by_id: dict[str, dict], jobs: int) -> None:
    todo = [r for r in rows if not out_path(r).exists()]

    def one(r: dict) -> None:
        rec = recipe(r)
        sp_row, mu_row = by_id[rec["speech"]], by_id[rec["music"]]
        sp, mu = read_wav(out_path(sp_row)), read_wav(out_path(mu_row))
        n = min(sp.size, int(float(r["duration_s"]) * SR))
        sp = sp[:n]
        mu = np.resize(mu, n) if mu.size < n else mu[:n]
        gain = 10 ** ((rms_db(sp) - float(rec["music_db"]) - rms_db(mu)) / 20)
        write_wav(out_path(r), normalize(sp + mu * gain, 0.8))

    with ThreadPoolExecutor(max_workers=jobs) as ex:
        for r, err in zip(todo, ex.map(lambda r: _try(one, r), todo), strict=True):
            if err:
                log(f"  FAILED {r['clip_id']}: {err}")
    log(f"[speech_over_music] built {len(todo)} clips")


def build_examples(rows: list[dict]) -> None:
    """Encode the rows marked ``example=PATH`` (44.1 kHz stereo Ogg Vorbis q3) and
    ``check=PATH`` (44.1 kHz mono, q2: small test fixtures)."""
    for r in rows:
        rec = recipe(r)
        target = rec.get("example") or rec.get("check")
        if not target:
            continue
        layout = ["-ac", "1", "-c:a", "libvorbis", "-q:a", "2"] if "check" in rec else None
        dst = ROOT / target
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(".tmp.ogg")
        start, dur = float(r["start_s"]), float(r["duration_s"])
        fade = ["-af", f"afade=t=in:d=0.5,afade=t=out:st={dur - 1.0:.3f}:d=1.0"]
        if r["label"] in MUSIC_LABELS:
            pkg = r["package"]
            extract(pkg, {r["path_in_package"].split("!")[0]})
            with tempfile.TemporaryDirectory(dir=CACHE) as td:
                src = source_file(pkg, r["path_in_package"], Path(td))
                cmd = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-ss", f"{start}", "-t", f"{dur}"]
                cmd += ["-i", str(src), *fade, "-ar", "44100"]
                enc = layout or ["-ac", "2", "-c:a", "libvorbis", "-q:a", "3"]
                run([*cmd, *enc, "-map_metadata", "-1", str(tmp)])
        else:  # speech: from the 16 kHz clip already built
            cmd = [
                "ffmpeg",
                "-nostdin",
                "-v",
                "error",
                "-y",
                "-t",
                f"{dur}",
                "-i",
                str(out_path(r)),
            ]
            cmd += [*fade, "-ar", "44100", "-ac", "1"]
            run([*cmd, "-c:a", "libvorbis", "-q:a", "3", "-map_metadata", "-1", str(tmp)])
        os.replace(tmp, dst)
        log(f"[examples] wrote {target}")


def ensure_packages(packages: list[str]) -> None:
    """Install the Debian packages this script runs that are missing (root, apt-get)."""
    missing = []
    for pkg in packages:
        q = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", pkg], capture_output=True, text=True
        )
        if "install ok installed" not in q.stdout:
            missing.append(pkg)
    if missing:
        log(f"installing {' '.join(missing)}")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        run(["apt-get", "install", "-y", "-q", *missing], env=env, stdout=subprocess.DEVNULL)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--only",
        help="build only this label (calm, aggressive, neutral, speech, speech_over_music)",
    )
    ap.add_argument(
        "--prune",
        action="store_true",
        help="delete clips under data/devset/clips not in the manifest",
    )
    ap.add_argument("--jobs", type=int, default=2, help="parallel ffmpeg/sox jobs (default 2)")
    ap.add_argument("--examples", action="store_true", help="also (re)encode models/examples/*.ogg")
    ap.add_argument(
        "--keep", action="store_true", help="keep downloaded .deb files and extractions"
    )
    args = ap.parse_args(argv)

    rows = read_manifest()
    by_id = {r["clip_id"]: r for r in rows}
    if args.prune:
        listed = {out_path(r) for r in rows}
        for f in sorted(CLIPS.glob("*/*.wav")):
            if f not in listed:
                f.unlink()
                log(f"pruned {f.relative_to(ROOT)}")
    checks = [r for r in rows if "check" in recipe(r)]
    rows = [r for r in rows if "check" not in recipe(r)]
    sel = [r for r in rows if not args.only or r["label"] == args.only]
    music = [r for r in sel if r["label"] in MUSIC_LABELS]
    speech = [r for r in sel if r["label"] == "speech"]
    mixes = [r for r in sel if r["label"] == "speech_over_music"]

    # A mix needs its speech and music clips; build those first.
    if mixes:
        deps = {recipe(r)[k] for r in mixes for k in ("speech", "music")}
        music += [
            by_id[d] for d in deps if by_id[d]["label"] in MUSIC_LABELS and by_id[d] not in music
        ]
        speech += [
            by_id[d] for d in deps if by_id[d]["label"] == "speech" and by_id[d] not in speech
        ]

    # Examples are cut from their own rows, which are ordinary clips too.
    examples = [r for r in rows if "example" in recipe(r)] if args.examples else []
    if args.examples:
        music += [r for r in examples if r["label"] in MUSIC_LABELS and r not in music]
        speech += [r for r in examples if r["label"] == "speech" and r not in speech]

    ensure_packages(TOOL_PACKAGES)
    # Music examples first: build_music then reuses and removes the extraction.
    build_examples([r for r in examples if r["label"] in MUSIC_LABELS])
    if args.examples:
        build_examples(checks)
    build_music(music, args.jobs, args.keep)
    if speech:
        ensure_packages(TTS_PACKAGES)
        build_speech(speech, args.jobs, args.keep)
    if mixes:
        build_mixes(mixes, by_id, args.jobs)
    build_examples([r for r in examples if r["label"] not in MUSIC_LABELS])
    if args.examples and not args.keep:  # extractions the examples and checks left behind
        for pkg in sorted({r["package"] for r in examples + checks if r["label"] in MUSIC_LABELS}):
            cleanup(pkg)

    missing = [r["clip_id"] for r in sel if not out_path(r).exists()]
    log(f"done: {len(sel) - len(missing)}/{len(sel)} clips present under {CLIPS}")
    if missing:
        log("missing: " + " ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
