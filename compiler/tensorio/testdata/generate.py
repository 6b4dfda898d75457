#!/usr/bin/python3
# Writes the numpy test files in this directory. Run with Debian's python3
# (which has numpy), from this directory: /usr/bin/python3 generate.py
import numpy as np

np.save('f4_2x3.npy', (np.arange(6, dtype='<f4').reshape(2, 3) / 4).astype('<f4'))
np.save('f8_scalar.npy', np.array(3.25, dtype='<f8'))
np.save('i8.npy', np.array([-1, 0, 1 << 40], dtype='<i8'))
np.save('i4.npy', np.array([[-7], [2147483647]], dtype='<i4'))
np.save('u1.npy', np.array([0, 200, 255], dtype='u1'))
np.save('i1.npy', np.array([-128, 0, 127], dtype='i1'))
np.save('f4_empty.npy', np.zeros((0, 3), dtype='<f4'))
np.save('fortran.npy', np.asfortranarray(np.arange(6.0).reshape(2, 3)))
np.save('big_endian.npy', np.array([1, 2], dtype='>f4'))
np.save('bool.npy', np.array([True, False]))
for v in (2, 3):
    with open('f8_v%d.npy' % v, 'wb') as f:
        np.lib.format.write_array(f, np.array([1.5, -2.5]), version=(v, 0))
np.savez_compressed('two.npz', a=np.arange(4, dtype='<f4').reshape(2, 2), b=np.array([7], dtype='<i8'))
np.savez('one.npz', np.array([0.5, 1.5]))
