#!/usr/bin/env python3
"""Writes the small VALID data seeds of the fuzz corpora (numpy is not needed):
    python3 tests/fuzz/make_seeds.py        (from anywhere)
corpus/csv/valid_*.csv and corpus/npy/valid_*.npy. The rest of the seeds are copies of the
repository's configs, bad-input corpora and small model files: tests/fuzz/README.md."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def npy(descr, shape, payload, major=1):
    dict_text = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ', '.join(str(d) for d in shape) + (',' if len(shape) == 1 else ''))
    pre = 10 if major == 1 else 12
    hlen = (pre + len(dict_text) + 1 + 63) // 64 * 64 - pre
    header = (dict_text + ' ' * (hlen - len(dict_text) - 1) + '\n').encode('latin-1')
    size = struct.pack('<H', hlen) if major == 1 else struct.pack('<I', hlen)
    return b'\x93NUMPY' + bytes([major, 0]) + size + header + payload


ROWS = [[i % 3, 0.5 * i, -1.25 + i, 1e-3 * i * i] for i in range(12)]  # label first
FMT = {'<f4': 'f', '<f8': 'd', '|u1': 'B', '<u1': 'B', '<i4': 'i', '<i8': 'q'}

npy_cases = {}
for descr, code in FMT.items():
    vals = [v if code in 'fd' else int(abs(v)) % 200 for row in ROWS for v in row]
    name = 'valid_%s.npy' % descr.replace('<', 'le_').replace('|', 'na_')
    npy_cases[name] = npy(descr, (len(ROWS), 4), struct.pack('<%d%s' % (len(vals), code), *vals))
npy_cases['valid_v2.npy'] = npy('<f4', (3, 2), struct.pack('<6f', 0, 1, 1, 2, 2, 3), major=2)
npy_cases['valid_v3.npy'] = npy('<f8', (2, 3), struct.pack('<6d', 1, .5, .25, 0, 2, 4), major=3)
npy_cases['valid_one_column.npy'] = npy('<f4', (4, 1), struct.pack('<4f', 0, 1, 0, 1))

def text(rows, sep=',', header=None, eol='\n'):
    lines = ([header] if header else []) + [sep.join('%g' % v for v in r) for r in rows]
    return (eol.join(lines) + eol).encode()

csv_cases = {
    'valid_plain.csv': text(ROWS),
    'valid_header.csv': text(ROWS, header='label,a,b,c'),
    'valid_space.csv': text(ROWS, sep=' '),
    'valid_tabs_header.csv': text(ROWS[:5], sep='\t', header='y\tx1\tx2\tx3'),
    'valid_crlf.csv': text(ROWS[:6], eol='\r\n'),
    'valid_blank_lines.csv': b'0,1,2\n\n1,2.5e-3,-7\n   \n2,+4,.5\n',
    'valid_no_final_newline.csv': b'1,2,3\n4,5,6',
    'valid_one_column.csv': b'1\n0\n1\n',
}

for folder, cases in (('csv', csv_cases), ('npy', npy_cases)):
    os.makedirs(os.path.join(HERE, 'corpus', folder), exist_ok=True)
    for name, data in cases.items():
        with open(os.path.join(HERE, 'corpus', folder, name), 'wb') as f:
            f.write(data)
