/** The parts of `/capabilities/` that validation reads; the rest is served as configured. */
export interface Range {
  min: number;
  max: number;
}

export interface HostLimits {
  cpu: Range;
  cpu_per_smp: Range;
  mem: Range;
  smp: Range;
}

export interface DriveLimits {
  size: Range;
  iops?: { base: number; min: number; max: number };
  [key: string]: unknown;
}

export interface Capabilities {
  default_storage_type: string;
  drives: Record<string, DriveLimits>;
  hosts: Record<string, HostLimits>;
  hypervisors: Record<string, string[]>;
  snapshots?: { current: number; max: number; max_per_drive: number };
  [key: string]: unknown;
}
