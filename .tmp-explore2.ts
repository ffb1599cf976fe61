import sharp from 'sharp';
import { getModel } from '#commons/models/index.ts';
import { prepareInput, toFeeds } from '#commons/models/preprocess.ts';
import { runSession } from '#commons/models/runtime.ts';
import { findComponents } from '#commons/models/decoders/text-probability-map.ts';
const name = process.argv[2] ?? 'text.png';
const { data, info } = await sharp(`test/fixtures/images/${name}`).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
const m = getModel('ocr-text-detector');
const p = await prepareInput(m, { pixels: data, width: info.width, height: info.height, format: 'png' });
console.log(p.geometry);
const out = await runSession(m.id, toFeeds(m, [p]));
const t = out['sigmoid_0.tmp_0']!;
const map = t.data as Float32Array;
console.log(t.dims, Math.max(...map));
const hist = [0,0,0,0,0,0,0,0,0,0];
for (const v of map) hist[Math.min(9, Math.floor(v*10))]!++;
console.log(hist);
const comps = findComponents(map, t.dims[3]!, t.dims[2]!, 0.3).sort((a,b)=>b.pixelCount-a.pixelCount);
for (const c of comps.slice(0, 15)) console.log(c.pixelCount, (c.probabilitySum/c.pixelCount).toFixed(3), c.minX, c.minY, c.maxX, c.maxY);
// ascii map
const W = t.dims[3]!, H = t.dims[2]!;
for (let y = 0; y < H; y += 4) { let s=''; for (let x = 0; x < W; x += 3) s += map[y*W+x]! > 0.3 ? '#' : map[y*W+x]! > 0.1 ? '.' : ' '; console.log(s); }
