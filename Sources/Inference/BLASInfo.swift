import COpenBLAS

/// Facts about the BLAS library in use, for logs and benchmark output.
public enum BLASInfo {
    /// OpenBLAS's name for the kernel family it selected (e.g. "Haswell", "SkylakeX").
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// Number of threads OpenBLAS will use.
    public static var threadCount: Int { Int(openblas_get_num_threads()) }
}
