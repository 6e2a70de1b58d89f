"""NumPy side of test/npy.test.ts.

  npy_interop.py probe                 exit 0 when numpy imports
  npy_interop.py describe FILE         numpy.load(FILE) -> JSON {shape, dtype, fortran, sum, values}
  npy_interop.py header FILE           JSON {version, header}: numpy's own reading of the header
  npy_interop.py save FILE KIND        writes a known array with numpy.save (KIND: f4, f8, f4_fortran, f4_be,
                                       f4_scalar, f4_empty, i4) and prints it as JSON {shape, values}
"""
import json
import sys

import numpy as np


def known(kind):
    base = (np.arange(24, dtype=np.float64).reshape(2, 3, 4) - 7.5) / 3.0
    if kind == "f4":
        return base.astype("<f4")
    if kind == "f8":
        return base.astype("<f8") + 1e-9
    if kind == "f4_fortran":
        return np.asfortranarray(base.astype("<f4"))
    if kind == "f4_be":
        return base.astype(">f4")
    if kind == "f4_scalar":
        return np.array(2.5, dtype="<f4")
    if kind == "f4_empty":
        return np.zeros((0, 5), dtype="<f4")
    if kind == "i4":
        return np.arange(6, dtype="<i4")
    raise SystemExit("unknown kind " + kind)


def main():
    cmd = sys.argv[1]
    if cmd == "probe":
        return
    path = sys.argv[2]
    if cmd == "describe":
        a = np.load(path)
        print(json.dumps({
            "shape": list(a.shape),
            "dtype": a.dtype.str,
            "fortran": bool(np.isfortran(a)),
            "sum": float(a.astype(np.float64).sum()),
            "values": [float(v) for v in a.ravel(order="C")],
        }))
    elif cmd == "header":
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            # The public readers (numpy 1.x and 2.x); writeNpy writes version 1.0.
            read = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}[version]
            shape, fortran, dtype = read(f)
        print(json.dumps({"version": list(version), "shape": list(shape), "fortran": fortran, "dtype": dtype.str}))
    elif cmd == "save":
        a = known(sys.argv[3])
        np.save(path, a)
        print(json.dumps({"shape": list(a.shape), "values": [float(v) for v in a.astype(np.float64).ravel(order="C")]}))
    else:
        raise SystemExit("unknown command " + cmd)


if __name__ == "__main__":
    main()
