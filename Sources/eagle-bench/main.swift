import Inference

print("eagle-bench: not implemented yet (BLAS core: \(BLASInfo.coreName))")
