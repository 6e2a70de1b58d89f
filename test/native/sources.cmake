# GoogleTest sources for native/core: one file per core concern.
set(BYOL_NATIVE_TEST_SOURCES
  test/native/dtype_test.cc
  test/native/tensor_factory_test.cc
  test/native/executor_test.cc
  test/native/group_batch_norm_test.cc
  test/native/resnet_test.cc
  test/native/safetensors_test.cc
  test/native/host_allocator_test.cc
  test/native/byol_loss_test.cc
  test/native/learner_test.cc
  test/native/precision_test.cc
  test/native/data_parallel_test.cc
  test/native/ema_test.cc
  test/native/augment_test.cc
  test/native/optim_test.cc
  test/native/evaluation_test.cc
)
