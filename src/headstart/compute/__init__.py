"""Where and how fast things run: devices and precision, processes (torch.distributed), throughput, Ctrl-C.

Infrastructure under the training loop and feature extraction alike; it knows nothing of models or tasks.
"""
