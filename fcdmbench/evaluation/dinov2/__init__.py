"""FD-DINOv2: the DINOv2 ViT/14 network (`network`), its feature statistics in float64
(`fd_stats`), the metric beside ADM's in `fcdmbench eval` (`fd_dinov2`) and the record of an
FD-DINOv2-only evaluation (`fd_eval`)."""
