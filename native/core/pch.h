// Precompiled header for every native source: the torch headers dominate compile time.
#pragma once
#include <torch/torch.h>
