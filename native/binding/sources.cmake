# Sources of the Node-API addon: one file per JS class or concern.
set(BYOL_BINDING_SOURCES
  native/binding/addon.cc
  native/binding/augment.cc
  native/binding/args.cc
  native/binding/async_job.cc
  native/binding/env_state.cc
  native/binding/errors.cc
  native/binding/optim.cc
  native/binding/serialize.cc
  native/binding/runtime.cc
  native/binding/tensor.cc
  native/binding/module.cc
  native/binding/learner.cc
  native/binding/distributed.cc
  native/binding/ema.cc
  native/binding/evaluation.cc
)
