// Named pairs of augmentation views for the command line.
import { byolPytorchDefault, byolView1, byolView2, type AugmentOptions } from '../augment.js';

import type { ViewPreset } from './choices.js';
export { VIEW_PRESETS, type ViewPreset } from './choices.js';

/**
 * - byol: the paper's asymmetric pair (table 6 of Grill et al.), bicubic.
 * - byol-pytorch: lucidrains/byol-pytorch's default pipeline for both views, drawn per image.
 * - small-gray: for small grayscale images such as Fashion-MNIST (chosen by the demo's tuning runs, see
 *   README "The demo"): crops of 20-100% of the image (8% leaves too little of a 28 px item), bilinear,
 *   brightness/contrast jitter only, the paper's blur/solarize asymmetry.
 */
export function viewPair(preset: ViewPreset, size: number): [AugmentOptions, AugmentOptions] {
  switch (preset) {
    case 'byol':
      return [byolView1(size), byolView2(size)];
    case 'byol-pytorch':
      return [byolPytorchDefault(size), byolPytorchDefault(size)];
    case 'small-gray': {
      const common: AugmentOptions = { interpolation: 'bilinear', scale: [0.2, 1], brightness: 0.4, contrast: 0.4, jitterProb: 0.8 };
      return [byolView1(size, { ...common, blurProb: 0.5 }), byolView2(size, { ...common, blurProb: 0.1, solarizeProb: 0.2 })];
    }
  }
}
