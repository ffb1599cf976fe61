import { Tensor } from 'onnxruntime-node';
import { runSession } from '#commons/models/runtime.ts';
const [w, h] = [Number(process.argv[2]), Number(process.argv[3])];
const feeds = { x: new Tensor('float32', new Float32Array(3 * w * h), [1, 3, h, w]) };
await runSession('ocr-text-detector', { x: new Tensor('float32', new Float32Array(3 * 64 * 64), [1, 3, 64, 64]) });
const t0 = performance.now();
await runSession('ocr-text-detector', feeds);
console.log(w, h, (performance.now() - t0).toFixed(0), 'ms', (process.memoryUsage().rss / 2 ** 20).toFixed(0), 'MiB rss');
