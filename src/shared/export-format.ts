// The file formats of GET /export: the page offers them, the server writes them.
export type ExportFormat = "csv" | "jsonl";

export const EXPORT_FORMATS: readonly ExportFormat[] = ["csv", "jsonl"];
