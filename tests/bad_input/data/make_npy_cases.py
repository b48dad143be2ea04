#!/usr/bin/env python3
"""Writes the .npy cases of this corpus (numpy is not needed). Run from this folder:
    python3 make_npy_cases.py
Each file holds one defect; EXPECTED lists the message substring it must produce."""
import struct


def npy(descr, shape, payload, fortran=False, major=1, dict_text=None):
    if dict_text is None:
        dict_text = "{'descr': %s, 'fortran_order': %s, 'shape': %s, }" % (
            descr if descr.startswith('[') else repr(descr), 'True' if fortran else 'False',
            '(' + ', '.join(str(d) for d in shape) + (',)' if len(shape) == 1 else ')'))
    pre = 10 if major == 1 else 12
    hlen = (pre + len(dict_text) + 1 + 63) // 64 * 64 - pre
    header = (dict_text + ' ' * (hlen - len(dict_text) - 1) + '\n').encode('latin-1')
    size = struct.pack('<H', hlen) if major == 1 else struct.pack('<I', hlen)
    return b'\x93NUMPY' + bytes([major, 0]) + size + header + payload


def f4(*v):
    return struct.pack('<%df' % len(v), *v)


def f8(*v):
    return struct.pack('<%dd' % len(v), *v)


cases = {
    'npy_f2.npy': npy('<f2', (2, 2), b'\0' * 8),
    'npy_big_endian.npy': npy('>f4', (2, 2), struct.pack('>4f', 1, 2, 3, 4)),
    'npy_i1.npy': npy('|i1', (2, 2), b'\1\2\3\4'),
    'npy_structured.npy': npy("[('a', '<f4'), ('b', '<f4')]", (2,), f4(1, 2, 3, 4)),
    'npy_fortran.npy': npy('<f4', (2, 2), f4(1, 2, 3, 4), fortran=True),
    'npy_truncated.npy': npy('<f4', (4, 3), f4(*range(10))),
    'npy_3d.npy': npy('<f4', (2, 2, 2), f4(*range(8))),
    'npy_1d.npy': npy('<f4', (4,), f4(1, 2, 3, 4)),
    'npy_0d.npy': npy('<f8', (), f8(1)),
    'npy_zero_rows.npy': npy('<f4', (0, 3), b''),
    'npy_zero_cols.npy': npy('<f4', (3, 0), b''),
    'npy_bad_version.npy': npy('<f4', (1, 2), f4(1, 2), major=4),
    'npy_bad_dict.npy': npy(None, None, f4(1, 2),
                            dict_text="{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2) "),
    'npy_missing_shape.npy': npy(None, None, f4(1, 2),
                                 dict_text="{'descr': '<f4', 'fortran_order': False}"),
    'npy_negative_shape.npy': npy(None, None, f4(1, 2),
                                  dict_text="{'descr': '<f4', 'fortran_order': False, "
                                            "'shape': (-1, 2)}"),
    'npy_fortran_not_bool.npy': npy(None, None, f4(1, 2),
                                    dict_text="{'descr': '<f4', 'fortran_order': 'no', "
                                              "'shape': (1, 2)}"),
    'npy_nan.npy': npy('<f4', (2, 2), f4(1, 2, 3, float('nan'))),
    'npy_inf.npy': npy('<f8', (2, 2), f8(1, float('-inf'), 3, 4)),
    'npy_f8_overflow.npy': npy('<f8', (1, 2), f8(1e300, 1)),
    'npy_label_out_of_range.npy': npy('<f4', (2, 3), f4(*range(6))),
    'npy_label_only.npy': npy('<i4', (2, 1), struct.pack('<2i', 0, 1)),
}
cases['npy_header_truncated.npy'] = npy('<f4', (2, 2), f4(1, 2, 3, 4))[:40]
cases['npy_bad_magic.npy'] = b'\x93NUMPX' + npy('<f4', (1, 1), f4(1))[6:]
cases['npy_empty.npy'] = b''
cases['npy_short_preamble.npy'] = b'\x93NUMPY\x01'

for name, data in cases.items():
    with open(name, 'wb') as f:
        f.write(data)
