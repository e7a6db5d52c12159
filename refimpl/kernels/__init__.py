"""Bit-exact NumPy reproductions of the float math kernels TensorFlow runs."""
