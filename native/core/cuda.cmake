# CUDA sources (native/core/*.cu) are added here by the issues that bring them.
