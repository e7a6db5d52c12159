"""Execution modes: the arithmetic each way of running Keras applies to a schedule."""
