"""Bit-exact NumPy emulations of the float kernels TensorFlow and XLA run on the CPU."""
