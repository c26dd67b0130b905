from .dist import get_dist_info, is_distributed, is_main_process
from .io import atomic_open, atomic_torch_save, atomic_write_text

__all__ = ["get_dist_info", "is_distributed", "is_main_process", "atomic_open",
           "atomic_torch_save", "atomic_write_text"]
