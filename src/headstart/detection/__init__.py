"""Object detection: letterboxing, decoding and NMS, the YOLO loss and mAP, shared by the detector and the CLI."""
