// Mono PCM conversion for the daemon: downmix, low-pass + downsample, batch, quantize.
//
// Written as a classic script that installs `globalThis.StreamChillPCM`, because it
// must load in three places that do not share a module system: the AudioWorklet
// (side-effect `import`), a content script's ScriptProcessor fallback (listed in the
// manifest before content.js) and node's test runner (`await import(...)`).
//
// Why downsample here and not with `new AudioContext({sampleRate: 16000})`: the tab
// must stay audible through the same context, and a 16 kHz context would play the
// music back band-limited to 8 kHz. We keep the device rate for playback and decimate
// the analysis copy with a windowed-sinc low-pass.
(function (root) {
  "use strict";

  /** Output rate the daemon's analysis runs at, in Hz (DESIGN.md). */
  const TARGET_RATE_HZ = 16000;
  /** Kernel half-width in zero crossings of the output-rate sinc. */
  const ZERO_CROSSINGS = 8;
  /** Kernel table resolution, entries per input sample of offset. */
  const TABLE_STEPS = 256;
  /** Largest polyphase table (phases x taps, floats): 44.1 kHz needs 160 x 46. */
  const MAX_POLYPHASE_FLOATS = 1 << 16;

  function gcd(a, b) {
    while (b) [a, b] = [b, a % b];
    return a;
  }
  /** Cut-off as a fraction of the output Nyquist (leaves room for the transition band). */
  const CUTOFF_FRACTION = 0.9;

  function besselI0(x) {
    let sum = 1;
    let term = 1;
    for (let k = 1; k < 30; k++) {
      term *= (x / (2 * k)) * (x / (2 * k));
      sum += term;
      if (term < 1e-12 * sum) break;
    }
    return sum;
  }

  /**
   * Streaming windowed-sinc (Kaiser, beta 8) resampler from any rate down to `outRateHz`.
   * State is carried between calls, so any chunking gives the same output.
   */
  class Resampler {
    constructor(inRateHz, outRateHz = TARGET_RATE_HZ) {
      if (!(inRateHz > 0) || !(outRateHz > 0)) throw new RangeError("rates must be > 0");
      this.inRateHz = inRateHz;
      this.outRateHz = outRateHz;
      /** Input samples per output sample. */
      this.step = inRateHz / outRateHz;
      // When upsampling (step < 1) the kernel only interpolates; no extra low-pass needed.
      const scale = Math.max(1, this.step);
      /** Cut-off in cycles per input sample. */
      this.cutoff = (0.5 / scale) * CUTOFF_FRACTION;
      /** Kernel half-width, in input samples. */
      this.half = Math.ceil(ZERO_CROSSINGS * scale);
      const n = this.half * TABLE_STEPS + 2;
      this.table = new Float32Array(n);
      const beta = 8;
      const i0b = besselI0(beta);
      for (let i = 0; i < n; i++) {
        const d = i / TABLE_STEPS;
        const x = 2 * this.cutoff * d;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        const r = d / this.half;
        const w = r >= 1 ? 0 : besselI0(beta * Math.sqrt(1 - r * r)) / i0b;
        this.table[i] = 2 * this.cutoff * sinc * w;
      }
      // History of input samples; bounded: compacted on every call to at most
      // 2 * half + the largest chunk pushed.
      this.buf = new Float32Array(4096);
      this.len = 0;
      /** Absolute index (input samples) of buf[0]. */
      this.base = -this.half; // pretend `half` zeros precede the stream
      this.len = this.half;
      /** Absolute input position of the next output sample. */
      this.pos = 0;
      this._setUpPolyphase();
    }

    /**
     * Integer rates repeat the same fractional offsets every `q` outputs (44.1 -> 16 kHz:
     * 441 inputs per 160 outputs). Then the normalized weights of each phase are computed
     * once, and every output is one dot product: about a quarter of the cost of evaluating
     * the kernel per tap (the worklet runs this on the audio thread, 16 000 times a second).
     * The position is then kept as integer + phase/q, exact for any stream length.
     */
    _setUpPolyphase() {
      this.poly = null;
      const { inRateHz, outRateHz } = this;
      if (!Number.isInteger(inRateHz) || !Number.isInteger(outRateHz)) return;
      const g = gcd(inRateHz, outRateHz);
      const q = outRateHz / g;
      const taps = 2 * this.half;
      if (q * taps > MAX_POLYPHASE_FLOATS) return;
      const poly = new Float32Array(q * taps);
      for (let j = 0; j < q; j++) {
        const frac = j / q;
        let wsum = 0;
        for (let k = 0; k < taps; k++) wsum += this._kernel(k - this.half + 1 - frac);
        for (let k = 0; k < taps; k++) {
          poly[j * taps + k] = wsum !== 0 ? this._kernel(k - this.half + 1 - frac) / wsum : 0;
        }
      }
      this.poly = poly;
      this.taps = taps;
      this.q = q;
      /** Input samples per output, in units of 1/q. */
      this.stepNum = inRateHz / g;
      /** Integer part and phase (numerator over q) of `pos`. */
      this.ipos = 0;
      this.phase = 0;
    }

    _kernel(d) {
      const a = Math.abs(d) * TABLE_STEPS;
      const i = a | 0;
      if (i >= this.table.length - 1) return 0;
      const f = a - i;
      return this.table[i] * (1 - f) + this.table[i + 1] * f;
    }

    /** Push mono float samples; returns a Float32Array of output-rate samples. */
    process(input) {
      if (this.len + input.length > this.buf.length) {
        let cap = this.buf.length;
        while (cap < this.len + input.length) cap *= 2;
        const grown = new Float32Array(cap);
        grown.set(this.buf.subarray(0, this.len));
        this.buf = grown;
      }
      this.buf.set(input, this.len);
      this.len += input.length;
      const end = this.base + this.len; // absolute index one past the last sample
      const maxOut = Math.max(0, Math.ceil((end - this.half - this.pos) / this.step) + 1);
      const out = new Float32Array(maxOut);
      let n = 0;
      if (this.poly) {
        const { poly, taps, q, stepNum, buf } = this;
        let { ipos, phase } = this;
        while (ipos + this.half < end && n < maxOut) {
          const off = phase * taps;
          const b0 = ipos - this.half + 1 - this.base;
          let acc = 0;
          for (let k = 0; k < taps; k++) acc += poly[off + k] * buf[b0 + k];
          out[n++] = acc;
          phase += stepNum;
          ipos += Math.floor(phase / q);
          phase %= q;
        }
        this.ipos = ipos;
        this.phase = phase;
        this.pos = ipos + phase / q;
      }
      while (!this.poly && this.pos + this.half < end && n < maxOut) {
        const centre = Math.floor(this.pos);
        const frac = this.pos - centre;
        let acc = 0;
        let wsum = 0;
        for (let k = -this.half + 1; k <= this.half; k++) {
          const w = this._kernel(k - frac);
          acc += w * this.buf[centre + k - this.base];
          wsum += w;
        }
        // Normalizing by the weight sum keeps the DC gain exactly 1 at every phase.
        out[n++] = wsum !== 0 ? acc / wsum : 0;
        this.pos += this.step;
      }
      // Drop history no longer reachable by the next output's kernel.
      const keepFrom = Math.floor(this.pos) - this.half;
      const drop = Math.max(0, keepFrom - this.base);
      if (drop > 0) {
        this.buf.copyWithin(0, drop, this.len);
        this.len -= drop;
        this.base += drop;
      }
      return n === maxOut ? out : out.subarray(0, n);
    }
  }

  /** Average the channels of one render quantum into mono. */
  function downmix(channels) {
    if (!channels || channels.length === 0) return new Float32Array(0);
    if (channels.length === 1) return channels[0];
    const n = channels[0].length;
    const out = new Float32Array(n);
    for (const ch of channels) for (let i = 0; i < n; i++) out[i] += ch[i];
    for (let i = 0; i < n; i++) out[i] /= channels.length;
    return out;
  }

  /** Float [-1, 1] to signed 16-bit, clipped. */
  function floatToS16(samples) {
    const out = new Int16Array(samples.length);
    for (let i = 0; i < samples.length; i++) {
      const s = Math.max(-1, Math.min(1, samples[i]));
      out[i] = s < 0 ? Math.round(s * 32768) : Math.round(s * 32767);
    }
    return out;
  }

  /**
   * Collects output-rate samples into fixed batches (default 100 ms) of s16le.
   * `onBatch(int16Array, peak)` gets each full batch; `peak` is the max |sample| (0..1),
   * so callers can tell digital silence (a cross-origin tap) from quiet music.
   */
  class Batcher {
    constructor(batchSamples, onBatch) {
      this.batchSamples = batchSamples;
      this.onBatch = onBatch;
      this.buf = new Float32Array(batchSamples); // bound: one batch
      this.fill = 0;
    }

    push(samples) {
      let i = 0;
      while (i < samples.length) {
        const take = Math.min(samples.length - i, this.batchSamples - this.fill);
        this.buf.set(samples.subarray(i, i + take), this.fill);
        this.fill += take;
        i += take;
        if (this.fill === this.batchSamples) {
          let peak = 0;
          for (let k = 0; k < this.fill; k++) peak = Math.max(peak, Math.abs(this.buf[k]));
          this.onBatch(floatToS16(this.buf), peak);
          this.fill = 0;
        }
      }
    }
  }

  /** A whole pipeline: channels at `inRateHz` in, 100 ms s16le mono batches out. */
  class PcmPipeline {
    constructor(inRateHz, onBatch, { outRateHz = TARGET_RATE_HZ, batchMs = 100 } = {}) {
      this.resampler = new Resampler(inRateHz, outRateHz);
      this.batcher = new Batcher(Math.round((outRateHz * batchMs) / 1000), onBatch);
    }

    push(channels) {
      this.batcher.push(this.resampler.process(downmix(channels)));
    }
  }

  /**
   * Bytes to base64: only for browsers whose extension messaging is JSON (no
   * `message_serialization: structured_clone` in the manifest); the daemon gets raw binary.
   */
  function bytesToBase64(bytes) {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(s);
  }

  function base64ToBytes(b64) {
    const s = atob(b64);
    const out = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
    return out;
  }

  /**
   * The bytes of one PCM batch as it arrived over a runtime Port: a typed array or an
   * ArrayBuffer where messaging is structured-clone, a base64 string where it is JSON.
   * Anything else (a JSON-flattened typed array, junk) gives null, so it is never sent.
   */
  function pcmBytesFromPort(data) {
    if (typeof data === "string") return base64ToBytes(data);
    if (data instanceof ArrayBuffer) return new Uint8Array(data);
    if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return null;
  }

  root.StreamChillPCM = {
    TARGET_RATE_HZ,
    Resampler,
    Batcher,
    PcmPipeline,
    downmix,
    floatToS16,
    bytesToBase64,
    base64ToBytes,
    pcmBytesFromPort,
  };
})(globalThis);
