#include <gtest/gtest.h>

#include "core/dtype.h"
#include "core/errors.h"

TEST(Dtype, RoundTripsEveryName) {
  for (const char* name : {"float32", "float64", "int32", "int64", "uint8", "bool", "float16", "bfloat16"}) {
    EXPECT_EQ(byol::dtypeName(byol::parseDtype(name)), name);
  }
}

TEST(Dtype, UnknownNameIsATypeErrorListingTheChoices) {
  try {
    byol::parseDtype("float8");
    FAIL() << "expected a TypeError";
  } catch (const byol::TypeError& e) {
    EXPECT_STREQ(e.what(), "dtype: expected one of float32, float64, int32, int64, uint8, bool, float16, bfloat16, "
                           "received 'float8'");
  }
}

TEST(Device, ParsesCpuAndRejectsNonsense) {
  EXPECT_TRUE(byol::parseDevice("cpu").is_cpu());
  EXPECT_THROW(byol::parseDevice("tpu"), byol::TypeError);
  EXPECT_THROW(byol::parseDevice("cuda:x"), byol::TypeError);
}

TEST(Device, CudaWithoutAGpuIsARangeError) {
  if (at::hasCUDA() && at::getNumGPUs() > 0) GTEST_SKIP() << "a GPU is present";
  try {
    byol::parseDevice("cuda");
    FAIL() << "expected a RangeError";
  } catch (const byol::RangeError& e) {
    EXPECT_NE(std::string(e.what()).find("no CUDA device is available"), std::string::npos) << e.what();
  }
}
