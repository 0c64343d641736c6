// AudioWorklet: device-rate audio in, 100 ms batches of 16 kHz mono s16le out (to the port).
// The processor passes its input through unchanged, so it can sit in the playback path
// or hang off a branch; either way the listener keeps hearing the original audio.
import "../lib/pcm.js";

const { PcmPipeline } = globalThis.StreamChillPCM;

class StreamChillPcmProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    // `sampleRate` is the AudioWorkletGlobalScope's: the context's real device rate.
    this.pipeline = new PcmPipeline(sampleRate, (pcm, peak) => {
      this.port.postMessage({ type: "pcm", pcm: pcm.buffer, peak }, [pcm.buffer]);
    });
    this.running = true;
    this.port.onmessage = (ev) => {
      if (ev.data && ev.data.type === "stop") this.running = false;
    };
  }

  process(inputs) {
    const input = inputs[0];
    // No connected input yet (or a muted track): nothing to convert this quantum.
    if (input && input.length > 0) this.pipeline.push(input);
    return this.running;
  }
}

registerProcessor("streamchill-pcm", StreamChillPcmProcessor);
