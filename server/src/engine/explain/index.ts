/** The explanation report: dataset descriptors and the report writer. */
export { computeDescriptors, type DescriptorOptions } from './descriptors';
export { writeReport, type WriteReportOptions } from './report';
export { buildReportData, type ReportData } from './summary';
export type { BaselineComparison, DatasetDescriptors, ReportInput, ReportOptions } from './types';
