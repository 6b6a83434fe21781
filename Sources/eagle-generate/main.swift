import Inference

print("eagle-generate: not implemented yet (BLAS core: \(BLASInfo.coreName))")
