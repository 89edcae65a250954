#!/usr/bin/env python3
"""Writes icon.png, the packages' 128x128 icon (a screen with a shell prompt), with the standard library only."""
import struct
import zlib

W = H = 128
clear, blue, white, green = (0, 0, 0, 0), (31, 78, 121, 255), (255, 255, 255, 255), (127, 209, 127, 255)
px = [[clear] * W for _ in range(H)]


def rect(x0, y0, x1, y1, c):
    for y in range(y0, y1 + 1):
        for x in range(x0, x1 + 1):
            px[y][x] = c


r = 20  # a rounded square
for y in range(H):
    for x in range(W):
        cx, cy = min(max(x, r), W - 1 - r), min(max(y, r), H - 1 - r)
        if (x - cx) ** 2 + (y - cy) ** 2 <= r * r:
            px[y][x] = blue
rect(22, 26, 105, 88, white)  # the screen
rect(28, 32, 99, 82, blue)
for y in range(44, 73):  # the prompt
    rect(40, y, 40 + (14 - abs(y - 58)), y, green)
rect(60, 66, 84, 72, white)  # the cursor
rect(56, 88, 71, 98, white)  # the stand
rect(40, 98, 87, 104, white)

raw = b"".join(b"\x00" + bytes(c for p in row for c in p) for row in px)


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


with open(__file__.rsplit("/", 1)[0] + "/icon.png" if "/" in __file__ else "icon.png", "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))
