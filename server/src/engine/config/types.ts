/** The typed shape of a validated config (mirrors schema.json). */
export interface PruneLensConfig {
  model: string;
  data: {
    path: string;
    height?: number;
    width?: number;
    channels?: 1 | 3;
    numClasses?: number;
    count?: number;
    size?: number;
    seed?: number;
    valFraction?: number;
    testFraction?: number;
  };
  calibration?: { images?: number; batchSize?: number; hrankImages?: number; seed?: number };
  method?: {
    name: 'pca-nci' | 'distribution' | 'l1' | 'bn-scale' | 'apoz' | 'hrank' | 'fpgm' | 'random';
    varianceThreshold?: number;
    minSamplesPerChannel?: number;
    combine?: 'product' | 'mean';
    threshold?: { kind: 'std'; alpha: number } | { kind: 'percentile'; p: number } | { kind: 'otsu' };
    scope?: 'layer' | 'global';
    ratio?: number;
    flopsReduction?: number;
    minFilters?: number;
    exclude?: string[];
  };
  layerPruning?: { enabled?: boolean; maxComponentFraction?: number; maxLevels?: number; maxMetricDrop?: number };
  finetune?: {
    epochs?: number;
    batchSize?: number;
    learningRate?: number;
    lrFactor?: number;
    patience?: number;
    distillation?: { enabled?: boolean; temperature?: number; weight?: number };
    augment?: boolean;
    seed?: number;
  };
  output?: string;
  compareBaselines?: ('l1' | 'bn-scale' | 'apoz' | 'hrank' | 'fpgm' | 'random')[];
}
