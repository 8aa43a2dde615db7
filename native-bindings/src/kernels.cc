// Riptide native kernels: batch geohash encode, haversine and ETA, in place on typed arrays
// (plain ArrayBuffer or SharedArrayBuffer backed). Each kernel performs the same floating-point
// operations in the same order as its JS reference in src/kernels/ so the results are bit-exact:
//
//   - built with -ffp-contract=off and without -ffast-math (binding.gyp): no FMA, no reassociation;
//   - sin, cos and asin are NOT libm's: V8 (Node 20) evaluates Math.sin/cos/asin with its port of
//     fdlibm (v8/src/base/ieee754.cc), and glibc's results differ in the last bit for some inputs.
//     The fdlibm routines below are that port, kept operation for operation. sqrt, floor and
//     scalbn are exact in IEEE 754 and libm's are used.
//
// The JS wrappers (src/kernels/native.ts) validate precision and n with the JS kernels' messages;
// the checks here only guard memory safety (wrong types, n beyond an array's length).

// ---------------------------------------------------------------------------------------------
// fdlibm sin / cos / asin, as ported by V8 (src/base/ieee754.cc). Original notice:
//
// ====================================================
// Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
//
// Developed at SunSoft, a Sun Microsystems, Inc. business.
// Permission to use, copy, modify, and distribute this
// software is freely granted, provided that this notice
// is preserved.
// ====================================================
//
// The original source code covered by the above license above has been
// modified significantly by Google Inc.
// Copyright 2016 the V8 project authors. All rights reserved.
// (V8's BSD-style license: https://chromium.googlesource.com/v8/v8/+/main/LICENSE)
// ---------------------------------------------------------------------------------------------

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace fdlibm {

inline uint64_t Bits(double d) {
  uint64_t b;
  std::memcpy(&b, &d, 8);
  return b;
}
inline double FromBits(uint64_t b) {
  double d;
  std::memcpy(&d, &b, 8);
  return d;
}
inline int32_t HighWord(double d) { return static_cast<int32_t>(Bits(d) >> 32); }
inline uint32_t LowWord(double d) { return static_cast<uint32_t>(Bits(d)); }
inline double InsertWords(uint32_t hi, uint32_t lo) {
  return FromBits((static_cast<uint64_t>(hi) << 32) | lo);
}
inline double SetLowWord(double d, uint32_t lo) {
  return FromBits((Bits(d) & 0xFFFFFFFF00000000ull) | lo);
}
inline double SetHighWord(double d, uint32_t hi) {
  return FromBits((Bits(d) & 0x00000000FFFFFFFFull) | (static_cast<uint64_t>(hi) << 32));
}

int __kernel_rem_pio2(double* x, double* y, int e0, int nx, int prec, const int32_t* ipio2) {
  static const int init_jk[] = {2, 3, 4, 6};
  static const double PIo2[] = {
      1.57079625129699707031e+00, /* 0x3FF921FB, 0x40000000 */
      7.54978941586159635335e-08, /* 0x3E74442D, 0x00000000 */
      5.39030252995776476554e-15, /* 0x3CF84698, 0x80000000 */
      3.28200341580791294123e-22, /* 0x3B78CC51, 0x60000000 */
      1.27065575308067607349e-29, /* 0x39F01B83, 0x80000000 */
      1.22933308981111328932e-36, /* 0x387A2520, 0x40000000 */
      2.73370053816464559624e-44, /* 0x36E38222, 0x80000000 */
      2.16741683877804819444e-51, /* 0x3569F31D, 0x00000000 */
  };
  static const double zero = 0.0, one = 1.0,
                      two24 = 1.67772160000000000000e+07,  /* 0x41700000, 0x00000000 */
      twon24 = 5.96046447753906250000e-08;                 /* 0x3E700000, 0x00000000 */

  int32_t jz, jx, jv, jp, jk, carry, n, iq[20], i, j, k, m, q0, ih;
  double z, fw, f[20], fq[20], q[20];

  jk = init_jk[prec];
  jp = jk;
  jx = nx - 1;
  jv = (e0 - 3) / 24;
  if (jv < 0) jv = 0;
  q0 = e0 - 24 * (jv + 1);

  j = jv - jx;
  m = jx + jk;
  for (i = 0; i <= m; i++, j++) f[i] = (j < 0) ? zero : static_cast<double>(ipio2[j]);

  for (i = 0; i <= jk; i++) {
    for (j = 0, fw = 0.0; j <= jx; j++) fw += x[j] * f[jx + i - j];
    q[i] = fw;
  }

  jz = jk;
recompute:
  for (i = 0, j = jz, z = q[jz]; j > 0; i++, j--) {
    fw = static_cast<double>(static_cast<int32_t>(twon24 * z));
    iq[i] = static_cast<int32_t>(z - two24 * fw);
    z = q[j - 1] + fw;
  }

  z = std::scalbn(z, q0);
  z -= 8.0 * std::floor(z * 0.125);
  n = static_cast<int32_t>(z);
  z -= static_cast<double>(n);
  ih = 0;
  if (q0 > 0) {
    i = (iq[jz - 1] >> (24 - q0));
    n += i;
    iq[jz - 1] -= i << (24 - q0);
    ih = iq[jz - 1] >> (23 - q0);
  } else if (q0 == 0) {
    ih = iq[jz - 1] >> 23;
  } else if (z >= 0.5) {
    ih = 2;
  }

  if (ih > 0) {
    n += 1;
    carry = 0;
    for (i = 0; i < jz; i++) {
      j = iq[i];
      if (carry == 0) {
        if (j != 0) {
          carry = 1;
          iq[i] = 0x1000000 - j;
        }
      } else {
        iq[i] = 0xffffff - j;
      }
    }
    if (q0 > 0) {
      switch (q0) {
        case 1:
          iq[jz - 1] &= 0x7fffff;
          break;
        case 2:
          iq[jz - 1] &= 0x3fffff;
          break;
      }
    }
    if (ih == 2) {
      z = one - z;
      if (carry != 0) z -= std::scalbn(one, q0);
    }
  }

  if (z == zero) {
    j = 0;
    for (i = jz - 1; i >= jk; i--) j |= iq[i];
    if (j == 0) {
      for (k = 1; jk >= k && iq[jk - k] == 0; k++) {
      }
      for (i = jz + 1; i <= jz + k; i++) {
        f[jx + i] = ipio2[jv + i];
        for (j = 0, fw = 0.0; j <= jx; j++) fw += x[j] * f[jx + i - j];
        q[i] = fw;
      }
      jz += k;
      goto recompute;
    }
  }

  if (z == 0.0) {
    jz -= 1;
    q0 -= 24;
    while (iq[jz] == 0) {
      jz--;
      q0 -= 24;
    }
  } else {
    z = std::scalbn(z, -q0);
    if (z >= two24) {
      fw = static_cast<double>(static_cast<int32_t>(twon24 * z));
      iq[jz] = static_cast<int32_t>(z - two24 * fw);
      jz += 1;
      q0 += 24;
      iq[jz] = static_cast<int32_t>(fw);
    } else {
      iq[jz] = static_cast<int32_t>(z);
    }
  }

  fw = std::scalbn(one, q0);
  for (i = jz; i >= 0; i--) {
    q[i] = fw * iq[i];
    fw *= twon24;
  }

  for (i = jz; i >= 0; i--) {
    for (fw = 0.0, k = 0; k <= jp && k <= jz - i; k++) fw += PIo2[k] * q[i + k];
    fq[jz - i] = fw;
  }

  // prec is always 2 here (called from __ieee754_rem_pio2).
  fw = 0.0;
  for (i = jz; i >= 0; i--) fw += fq[i];
  y[0] = (ih == 0) ? fw : -fw;
  fw = fq[0] - fw;
  for (i = 1; i <= jz; i++) fw += fq[i];
  y[1] = (ih == 0) ? fw : -fw;
  return n & 7;
}

int32_t __ieee754_rem_pio2(double x, double* y) {
  static const int32_t two_over_pi[] = {
      0xA2F983, 0x6E4E44, 0x1529FC, 0x2757D1, 0xF534DD, 0xC0DB62, 0x95993C, 0x439041, 0xFE5163,
      0xABDEBB, 0xC561B7, 0x246E3A, 0x424DD2, 0xE00649, 0x2EEA09, 0xD1921C, 0xFE1DEB, 0x1CB129,
      0xA73EE8, 0x8235F5, 0x2EBB44, 0x84E99C, 0x7026B4, 0x5F7E41, 0x3991D6, 0x398353, 0x39F49C,
      0x845F8B, 0xBDF928, 0x3B1FF8, 0x97FFDE, 0x05980F, 0xEF2F11, 0x8B5A0A, 0x6D1F6D, 0x367ECF,
      0x27CB09, 0xB74F46, 0x3F669E, 0x5FEA2D, 0x7527BA, 0xC7EBE5, 0xF17B3D, 0x0739F7, 0x8A5292,
      0xEA6BFB, 0x5FB11F, 0x8D5D08, 0x560330, 0x46FC7B, 0x6BABF0, 0xCFBC20, 0x9AF436, 0x1DA9E3,
      0x91615E, 0xE61B08, 0x659985, 0x5F14A0, 0x68408D, 0xFFD880, 0x4D7327, 0x310606, 0x1556CA,
      0x73A8C9, 0x60E27B, 0xC08C6B,
  };
  static const int32_t npio2_hw[] = {
      0x3FF921FB, 0x400921FB, 0x4012D97C, 0x401921FB, 0x401F6A7A, 0x4022D97C, 0x4025FDBB,
      0x402921FB, 0x402C463A, 0x402F6A7A, 0x4031475C, 0x4032D97C, 0x40346B9C, 0x4035FDBB,
      0x40378FDB, 0x403921FB, 0x403AB41B, 0x403C463A, 0x403DD85A, 0x403F6A7A, 0x40407E4C,
      0x4041475C, 0x4042106C, 0x4042D97C, 0x4043A28C, 0x40446B9C, 0x404534AC, 0x4045FDBB,
      0x4046C6CB, 0x40478FDB, 0x404858EB, 0x404921FB,
  };
  static const double zero = 0.00000000000000000000e+00,
                      half = 5.00000000000000000000e-01,
                      two24 = 1.67772160000000000000e+07,
                      invpio2 = 6.36619772367581382433e-01, /* 0x3FE45F30, 0x6DC9C883 */
      pio2_1 = 1.57079632673412561417e+00,                  /* 0x3FF921FB, 0x54400000 */
      pio2_1t = 6.07710050650619224932e-11,                 /* 0x3DD0B461, 0x1A626331 */
      pio2_2 = 6.07710050630396597660e-11,                  /* 0x3DD0B461, 0x1A600000 */
      pio2_2t = 2.02226624879595063154e-21,                 /* 0x3BA3198A, 0x2E037073 */
      pio2_3 = 2.02226624871116645580e-21,                  /* 0x3BA3198A, 0x2E000000 */
      pio2_3t = 8.47842766036889956997e-32;                 /* 0x397B839A, 0x252049C1 */

  double z, w, t, r, fn;
  double tx[3];
  int32_t e0, i, j, nx, n, ix, hx;
  uint32_t low;

  z = 0;
  hx = HighWord(x);
  ix = hx & 0x7fffffff;
  if (ix <= 0x3fe921fb) {
    y[0] = x;
    y[1] = 0;
    return 0;
  }
  if (ix < 0x4002d97c) {
    if (hx > 0) {
      z = x - pio2_1;
      if (ix != 0x3ff921fb) {
        y[0] = z - pio2_1t;
        y[1] = (z - y[0]) - pio2_1t;
      } else {
        z -= pio2_2;
        y[0] = z - pio2_2t;
        y[1] = (z - y[0]) - pio2_2t;
      }
      return 1;
    } else {
      z = x + pio2_1;
      if (ix != 0x3ff921fb) {
        y[0] = z + pio2_1t;
        y[1] = (z - y[0]) + pio2_1t;
      } else {
        z += pio2_2;
        y[0] = z + pio2_2t;
        y[1] = (z - y[0]) + pio2_2t;
      }
      return -1;
    }
  }
  if (ix <= 0x413921fb) {
    t = std::fabs(x);
    n = static_cast<int32_t>(t * invpio2 + half);
    fn = static_cast<double>(n);
    r = t - fn * pio2_1;
    w = fn * pio2_1t;
    if (n < 32 && ix != npio2_hw[n - 1]) {
      y[0] = r - w;
    } else {
      uint32_t high;
      j = ix >> 20;
      y[0] = r - w;
      high = static_cast<uint32_t>(HighWord(y[0]));
      i = j - ((high >> 20) & 0x7ff);
      if (i > 16) {
        t = r;
        w = fn * pio2_2;
        r = t - w;
        w = fn * pio2_2t - ((t - r) - w);
        y[0] = r - w;
        high = static_cast<uint32_t>(HighWord(y[0]));
        i = j - ((high >> 20) & 0x7ff);
        if (i > 49) {
          t = r;
          w = fn * pio2_3;
          r = t - w;
          w = fn * pio2_3t - ((t - r) - w);
          y[0] = r - w;
        }
      }
    }
    y[1] = (r - y[0]) - w;
    if (hx < 0) {
      y[0] = -y[0];
      y[1] = -y[1];
      return -n;
    }
    return n;
  }
  if (ix >= 0x7ff00000) {
    y[0] = y[1] = x - x;
    return 0;
  }
  low = LowWord(x);
  z = SetLowWord(z, low);
  e0 = (ix >> 20) - 1046;
  z = SetHighWord(z, static_cast<uint32_t>(ix - static_cast<int32_t>(e0 << 20)));
  for (i = 0; i < 2; i++) {
    tx[i] = static_cast<double>(static_cast<int32_t>(z));
    z = (z - tx[i]) * two24;
  }
  tx[2] = z;
  nx = 3;
  while (tx[nx - 1] == zero) nx--;
  n = __kernel_rem_pio2(tx, y, e0, nx, 2, two_over_pi);
  if (hx < 0) {
    y[0] = -y[0];
    y[1] = -y[1];
    return -n;
  }
  return n;
}

inline double __kernel_cos(double x, double y) {
  static const double one = 1.00000000000000000000e+00,
                      C1 = 4.16666666666666019037e-02,  /* 0x3FA55555, 0x5555554C */
      C2 = -1.38888888888741095749e-03,                 /* 0xBF56C16C, 0x16C15177 */
      C3 = 2.48015872894767294178e-05,                  /* 0x3EFA01A0, 0x19CB1590 */
      C4 = -2.75573143513906633035e-07,                 /* 0xBE927E4F, 0x809C52AD */
      C5 = 2.08757232129817482790e-09,                  /* 0x3E21EE9E, 0xBDB4B1C4 */
      C6 = -1.13596475577881948265e-11;                 /* 0xBDA8FAE9, 0xBE8838D4 */
  double a, iz, z, r, qx;
  int32_t ix = HighWord(x) & 0x7fffffff;
  if (ix < 0x3e400000) {
    if (static_cast<int>(x) == 0) return one;
  }
  z = x * x;
  r = z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))));
  if (ix < 0x3FD33333) {
    return one - (0.5 * z - (z * r - x * y));
  }
  if (ix > 0x3fe90000) {
    qx = 0.28125;
  } else {
    qx = InsertWords(static_cast<uint32_t>(ix - 0x00200000), 0);
  }
  iz = 0.5 * z - qx;
  a = one - qx;
  return a - (iz - (z * r - x * y));
}

inline double __kernel_sin(double x, double y, int iy) {
  static const double half = 5.00000000000000000000e-01,
                      S1 = -1.66666666666666324348e-01, /* 0xBFC55555, 0x55555549 */
      S2 = 8.33333333332248946124e-03,                  /* 0x3F811111, 0x1110F8A6 */
      S3 = -1.98412698298579493134e-04,                 /* 0xBF2A01A0, 0x19C161D5 */
      S4 = 2.75573137070700676789e-06,                  /* 0x3EC71DE3, 0x57B1FE7D */
      S5 = -2.50507602534068634195e-08,                 /* 0xBE5AE5E6, 0x8A2B9CEB */
      S6 = 1.58969099521155010221e-10;                  /* 0x3DE5D93A, 0x5ACFD57C */
  double z, r, v;
  int32_t ix = HighWord(x) & 0x7fffffff;
  if (ix < 0x3e400000) {
    if (static_cast<int>(x) == 0) return x;
  }
  z = x * x;
  v = z * x;
  r = S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)));
  if (iy == 0) return x + v * (S1 + z * r);
  return x - ((z * (half * y - v * r) - y) - v * S1);
}

double sin(double x) {
  double y[2], z = 0.0;
  int32_t ix = HighWord(x) & 0x7fffffff;
  if (ix <= 0x3fe921fb) return __kernel_sin(x, z, 0);
  if (ix >= 0x7ff00000) return x - x;
  int32_t n = __ieee754_rem_pio2(x, y);
  switch (n & 3) {
    case 0:
      return __kernel_sin(y[0], y[1], 1);
    case 1:
      return __kernel_cos(y[0], y[1]);
    case 2:
      return -__kernel_sin(y[0], y[1], 1);
    default:
      return -__kernel_cos(y[0], y[1]);
  }
}

double cos(double x) {
  double y[2], z = 0.0;
  int32_t ix = HighWord(x) & 0x7fffffff;
  if (ix <= 0x3fe921fb) return __kernel_cos(x, z);
  if (ix >= 0x7ff00000) return x - x;
  int32_t n = __ieee754_rem_pio2(x, y);
  switch (n & 3) {
    case 0:
      return __kernel_cos(y[0], y[1]);
    case 1:
      return -__kernel_sin(y[0], y[1], 1);
    case 2:
      return -__kernel_cos(y[0], y[1]);
    default:
      return __kernel_sin(y[0], y[1], 1);
  }
}

double asin(double x) {
  static const double one = 1.00000000000000000000e+00, huge = 1.000e+300,
                      pio2_hi = 1.57079632679489655800e+00, /* 0x3FF921FB, 0x54442D18 */
      pio2_lo = 6.12323399573676603587e-17,                 /* 0x3C91A626, 0x33145C07 */
      pio4_hi = 7.85398163397448278999e-01,                 /* 0x3FE921FB, 0x54442D18 */
      pS0 = 1.66666666666666657415e-01,                     /* 0x3FC55555, 0x55555555 */
      pS1 = -3.25565818622400915405e-01,                    /* 0xBFD4D612, 0x03EB6F7D */
      pS2 = 2.01212532134862925881e-01,                     /* 0x3FC9C155, 0x0E884455 */
      pS3 = -4.00555345006794114027e-02,                    /* 0xBFA48228, 0xB5688F3B */
      pS4 = 7.91534994289814532176e-04,                     /* 0x3F49EFE0, 0x7501B288 */
      pS5 = 3.47933107596021167570e-05,                     /* 0x3F023DE1, 0x0DFDF709 */
      qS1 = -2.40339491173441421878e+00,                    /* 0xC0033A27, 0x1C8A2D4B */
      qS2 = 2.02094576023350569471e+00,                     /* 0x40002AE5, 0x9C598AC8 */
      qS3 = -6.88283971605453293030e-01,                    /* 0xBFE6066C, 0x1B8D0159 */
      qS4 = 7.70381505559019352791e-02;                     /* 0x3FB3B8C5, 0xB12E9282 */
  double t, w, p, q, c, r, s;
  int32_t hx, ix;
  t = 0;
  hx = HighWord(x);
  ix = hx & 0x7fffffff;
  if (ix >= 0x3ff00000) {
    uint32_t lx = LowWord(x);
    if (((ix - 0x3ff00000) | lx) == 0) return x * pio2_hi + x * pio2_lo;
    return std::numeric_limits<double>::signaling_NaN();  // as V8: asin(|x|>1 or NaN)
  } else if (ix < 0x3fe00000) {
    if (ix < 0x3e400000) {
      if (huge + x > one) return x;
    } else {
      t = x * x;
    }
    p = t * (pS0 + t * (pS1 + t * (pS2 + t * (pS3 + t * (pS4 + t * pS5)))));
    q = one + t * (qS1 + t * (qS2 + t * (qS3 + t * qS4)));
    w = p / q;
    return x + x * w;
  }
  w = one - std::fabs(x);
  t = w * 0.5;
  p = t * (pS0 + t * (pS1 + t * (pS2 + t * (pS3 + t * (pS4 + t * pS5)))));
  q = one + t * (qS1 + t * (qS2 + t * (qS3 + t * qS4)));
  s = std::sqrt(t);
  if (ix >= 0x3FEF3333) {
    w = p / q;
    t = pio2_hi - (2.0 * (s + s * w) - pio2_lo);
  } else {
    w = s;
    w = SetLowWord(w, 0);
    c = (t - w * w) / (s + w);
    r = p / q;
    p = 2.0 * s * r - (pio2_lo - 2.0 * c);
    q = pio4_hi - 2.0 * w;
    t = pio4_hi - (p - q);
  }
  return hx > 0 ? t : -t;
}

}  // namespace fdlibm

// ---------------------------------------------------------------------------------------------
// Kernels: src/kernels/geo.ts and src/kernels/geohash.ts, operation for operation.
// ---------------------------------------------------------------------------------------------
namespace {

constexpr double EARTH_RADIUS_KM = 6371.0088;
constexpr double DIAMETER_KM = 2 * EARTH_RADIUS_KM;
constexpr double DEG_TO_RAD = 3.141592653589793 / 180;  // Math.PI / 180
constexpr double HALF_DEG_TO_RAD = DEG_TO_RAD / 2;

// Math.min(1, x) for x >= +0 or NaN (NaN propagates, as in JS).
inline double MinOne(double x) { return x < 1 ? x : (x != x ? x : 1.0); }

inline double HaversineKm(double lat1, double lon1, double lat2, double lon2) {
  const double sinHalfDLat = fdlibm::sin((lat2 - lat1) * HALF_DEG_TO_RAD);
  const double sinHalfDLon = fdlibm::sin((lon2 - lon1) * HALF_DEG_TO_RAD);
  const double a = sinHalfDLat * sinHalfDLat +
                   fdlibm::cos(lat1 * DEG_TO_RAD) * fdlibm::cos(lat2 * DEG_TO_RAD) * sinHalfDLon * sinHalfDLon;
  return DIAMETER_KM * fdlibm::asin(MinOne(std::sqrt(a)));
}

constexpr int GEOHASH_MAX_PRECISION = 12;
constexpr int GEOHASH_INT_MAX_PRECISION = 6;
constexpr int HALF_LO_BITS = 15;
constexpr int32_t HALF_LO_MASK = 0x7fff;

struct GeohashTables {
  int32_t lonLast[GEOHASH_MAX_PRECISION + 1];
  int32_t latLast[GEOHASH_MAX_PRECISION + 1];
  double lonScale[GEOHASH_MAX_PRECISION + 1];
  double latScale[GEOHASH_MAX_PRECISION + 1];
  double lonStep[GEOHASH_MAX_PRECISION + 1];
  double latStep[GEOHASH_MAX_PRECISION + 1];
  int32_t lonShift[GEOHASH_MAX_PRECISION + 1];
  GeohashTables() {
    const double scaleRoundUp = 1 + std::ldexp(1.0, -50);  // 1 + 2 ** -50
    for (int p = 1; p <= GEOHASH_MAX_PRECISION; p++) {
      const int bits = 5 * p;
      const double lonCells = std::ldexp(1.0, (bits + 1) >> 1);
      const double latCells = std::ldexp(1.0, bits >> 1);
      lonLast[p] = static_cast<int32_t>(lonCells - 1);
      latLast[p] = static_cast<int32_t>(latCells - 1);
      lonScale[p] = (lonCells / 360) * scaleRoundUp;
      latScale[p] = (latCells / 180) * scaleRoundUp;
      lonStep[p] = 360 / lonCells;
      latStep[p] = 180 / latCells;
      lonShift[p] = (bits & 1) ^ 1;
    }
  }
};
const GeohashTables kTables;

// cellIndex in geohash.ts: `t | 0` truncates; 0 <= t < last < 2^31 there, so the cast agrees.
inline int32_t CellIndex(double x, double min, double scale, double step, int32_t last) {
  const double t = (x - min) * scale;
  const int32_t c = t >= 0 ? (t < last ? static_cast<int32_t>(t) : last) : 0;
  return c > 0 && x <= static_cast<double>(c) * step + min ? c - 1 : c;
}

inline uint32_t Spread15(uint32_t x) {
  x = (x | (x << 8)) & 0x00ff00ffu;
  x = (x | (x << 4)) & 0x0f0f0f0fu;
  x = (x | (x << 2)) & 0x33333333u;
  return (x | (x << 1)) & 0x55555555u;
}

// --- argument plumbing -----------------------------------------------------------------------

template <typename T, napi_typedarray_type kType>
bool GetArray(const Napi::CallbackInfo& info, size_t i, const char* what, T** data, size_t* length) {
  Napi::Env env = info.Env();
  napi_value v = info[i];
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) {
    Napi::TypeError::New(env, std::string(what) + " must be a typed array").ThrowAsJavaScriptException();
    return false;
  }
  napi_typedarray_type type;
  size_t len = 0;
  void* ptr = nullptr;
  if (napi_get_typedarray_info(env, v, &type, &len, &ptr, nullptr, nullptr) != napi_ok || type != kType) {
    Napi::TypeError::New(env, std::string(what) + " has the wrong typed-array type").ThrowAsJavaScriptException();
    return false;
  }
  *data = static_cast<T*>(ptr);
  *length = len;
  return true;
}

bool GetF64(const Napi::CallbackInfo& info, size_t i, const char* what, double** d, size_t* len) {
  return GetArray<double, napi_float64_array>(info, i, what, d, len);
}
bool GetU32(const Napi::CallbackInfo& info, size_t i, const char* what, uint32_t** d, size_t* len) {
  return GetArray<uint32_t, napi_uint32_array>(info, i, what, d, len);
}

bool GetN(const Napi::CallbackInfo& info, size_t i, size_t capacity, size_t* n) {
  Napi::Env env = info.Env();
  if (!info[i].IsNumber()) {
    Napi::TypeError::New(env, "n must be a number").ThrowAsJavaScriptException();
    return false;
  }
  const double v = info[i].As<Napi::Number>().DoubleValue();
  if (!(v >= 0 && v <= static_cast<double>(capacity) && v == std::floor(v))) {
    Napi::RangeError::New(env, "n must be an integer in 0..capacity (the shortest array's length)")
        .ThrowAsJavaScriptException();
    return false;
  }
  *n = static_cast<size_t>(v);
  return true;
}

inline size_t Min(size_t a, size_t b) { return a < b ? a : b; }

// geohashEncodeBatch(lat, lon, n, precision, outHi, outLo)
Napi::Value GeohashEncodeBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6) {
    Napi::TypeError::New(env, "geohashEncodeBatch needs 6 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double *lat, *lon;
  uint32_t *outHi, *outLo;
  size_t l0, l1, l2, l3, n;
  if (!GetF64(info, 0, "lat", &lat, &l0) || !GetF64(info, 1, "lon", &lon, &l1) ||
      !GetU32(info, 4, "outHi", &outHi, &l2) || !GetU32(info, 5, "outLo", &outLo, &l3) ||
      !GetN(info, 2, Min(Min(l0, l1), Min(l2, l3)), &n)) {
    return env.Undefined();
  }
  const double pv = info[3].IsNumber() ? info[3].As<Napi::Number>().DoubleValue() : -1;
  if (!(pv >= 1 && pv <= GEOHASH_MAX_PRECISION && pv == std::floor(pv))) {
    Napi::RangeError::New(env, "precision must be an integer in 1..12").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int p = static_cast<int>(pv);
  const double lonScale = kTables.lonScale[p], latScale = kTables.latScale[p];
  const double lonStep = kTables.lonStep[p], latStep = kTables.latStep[p];
  const int32_t lonLast = kTables.lonLast[p], latLast = kTables.latLast[p];
  const int lonShift = kTables.lonShift[p], latShift = lonShift ^ 1;
  if (p <= GEOHASH_INT_MAX_PRECISION) {
    for (size_t i = 0; i < n; i++) {
      const uint32_t lonCell = static_cast<uint32_t>(CellIndex(lon[i], -180, lonScale, lonStep, lonLast));
      const uint32_t latCell = static_cast<uint32_t>(CellIndex(lat[i], -90, latScale, latStep, latLast));
      outHi[i] = 0;
      outLo[i] = (Spread15(lonCell) << lonShift) | (Spread15(latCell) << latShift);
    }
  } else {
    for (size_t i = 0; i < n; i++) {
      const uint32_t lonCell = static_cast<uint32_t>(CellIndex(lon[i], -180, lonScale, lonStep, lonLast));
      const uint32_t latCell = static_cast<uint32_t>(CellIndex(lat[i], -90, latScale, latStep, latLast));
      outHi[i] = (Spread15(lonCell >> HALF_LO_BITS) << lonShift) | (Spread15(latCell >> HALF_LO_BITS) << latShift);
      outLo[i] = (Spread15(lonCell & HALF_LO_MASK) << lonShift) | (Spread15(latCell & HALF_LO_MASK) << latShift);
    }
  }
  return env.Undefined();
}

// haversineBatch(lat1, lon1, lat2, lon2, n, out)
Napi::Value HaversineBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 6) {
    Napi::TypeError::New(env, "haversineBatch needs 6 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double *lat1, *lon1, *lat2, *lon2, *out;
  size_t l0, l1, l2, l3, l5, n;
  if (!GetF64(info, 0, "lat1", &lat1, &l0) || !GetF64(info, 1, "lon1", &lon1, &l1) ||
      !GetF64(info, 2, "lat2", &lat2, &l2) || !GetF64(info, 3, "lon2", &lon2, &l3) ||
      !GetF64(info, 5, "out", &out, &l5) || !GetN(info, 4, Min(Min(Min(l0, l1), Min(l2, l3)), l5), &n)) {
    return env.Undefined();
  }
  for (size_t i = 0; i < n; i++) out[i] = HaversineKm(lat1[i], lon1[i], lat2[i], lon2[i]);
  return env.Undefined();
}

// etaBatch(driverLat, driverLon, reqLat, reqLon, traffic, n, outMinutes, baseSpeedKmh)
Napi::Value EtaBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 8 || !info[7].IsNumber()) {
    Napi::TypeError::New(env, "etaBatch needs 8 arguments, the last a number").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  double *dLat, *dLon, *rLat, *rLon, *traffic, *out;
  size_t l0, l1, l2, l3, l4, l6, n;
  if (!GetF64(info, 0, "driverLat", &dLat, &l0) || !GetF64(info, 1, "driverLon", &dLon, &l1) ||
      !GetF64(info, 2, "reqLat", &rLat, &l2) || !GetF64(info, 3, "reqLon", &rLon, &l3) ||
      !GetF64(info, 4, "traffic", &traffic, &l4) || !GetF64(info, 6, "outMinutes", &out, &l6) ||
      !GetN(info, 5, Min(Min(Min(l0, l1), Min(l2, l3)), Min(l4, l6)), &n)) {
    return env.Undefined();
  }
  const double baseSpeedKmh = info[7].As<Napi::Number>().DoubleValue();
  for (size_t i = 0; i < n; i++) {
    const double d = HaversineKm(dLat[i], dLon[i], rLat[i], rLon[i]);
    out[i] = (d / (baseSpeedKmh / traffic[i])) * 60;
  }
  return env.Undefined();
}

// --- window table: src/kernels/window-table.ts, operation for operation ------------------------
//
// The table's arrays belong to the JS WindowTable; these kernels update them in place and hand the
// counters (size, smallest window start) back through `io`. Growing, closing, snapshots stay in JS:
// when an insert would need the table to grow, a kernel stops before that record and reports
// kNeedGrow; the caller grows the table (in JS, exactly when the JS kernel would) and calls again
// from that record. Every decision before the insert is pure, so repeating it gives the same answer.

enum Status { kDone = 0, kNeedGrow = 1, kNeedDrivers = 2 };

// The layout of `io` (a Float64Array of at least IO_WORDS): inputs, then results.
enum Io {
  IO_FROM = 0, IO_N = 1, IO_SIZE = 2, IO_MIN_START = 3, IO_SIZE_MS = 4,
  IO_GRACE_MS = 5, IO_MAX_SPEED_KMH = 6, IO_SPEED_SCALE = 7, IO_PRECISION = 8, IO_POSITIONS = 9,
  IO_STATUS = 10, IO_NEXT = 11, IO_SIDES = 12, IO_OUT_SIZE = 13, IO_OUT_MIN_START = 14,
  IO_BATCH_NO = 15, IO_MOVED = 16,  // positions: the batch number (in), drivers on `moved` (in/out)
  IO_WORDS = 20,
};

// JS ToInt32 (`x | 0`): truncate, then wrap modulo 2^32; NaN and infinities give 0.
inline uint32_t ToInt32Bits(double x) {
  if (!std::isfinite(x)) return 0;
  const double t = std::trunc(x);
  if (t >= -2147483648.0 && t <= 2147483647.0) return static_cast<uint32_t>(static_cast<int32_t>(t));
  double m = std::fmod(t, 4294967296.0);  // exact for integers
  if (m < 0) m += 4294967296.0;           // exact: |m| < 2^32
  return static_cast<uint32_t>(m);
}

struct Table {
  uint8_t* used;
  uint32_t* keys;
  double* starts;
  double* count;
  double* sum;
  double* nn;
  double* min;
  double* max;
  uint32_t mask;
  double cap;
  double size;
  double minStart;
  double sizeMs;
  // WindowTable.home's cache of the window index's hash term.
  double lastStart;
  uint32_t lastTerm;
};

inline uint32_t Home(Table& t, uint32_t key, double start) {
  if (start != t.lastStart) {  // JS: start !== this.lastStart
    t.lastStart = start;
    t.lastTerm = ToInt32Bits(start / t.sizeMs) * 0x9e3779b1u;  // Math.imul
  }
  uint32_t h = (key ^ t.lastTerm) * 0x85ebca6bu;
  h ^= h >> 13;
  h *= 0xc2b2ae35u;
  h ^= h >> 16;
  return h & t.mask;
}

// WindowTable.add; false (nothing changed) when the record needs a new entry and the table must
// grow first.
inline bool TableAdd(Table& t, uint32_t key, double start, double value) {
  uint32_t s = Home(t, key, start);
  while (t.used[s] != 0 && (t.keys[s] != key || t.starts[s] != start)) s = (s + 1) & t.mask;
  if (t.used[s] == 0) {
    if ((t.size + 1) * 2 > t.cap) return false;
    const bool has = value == value;
    t.used[s] = 1;
    t.keys[s] = key;
    t.starts[s] = start;
    t.count[s] = 1;
    t.sum[s] = has ? value : 0;
    t.nn[s] = has ? 1 : 0;
    t.min[s] = has ? value : std::numeric_limits<double>::infinity();
    t.max[s] = has ? value : -std::numeric_limits<double>::infinity();
    t.size++;
    if (start < t.minStart) t.minStart = start;
    return true;
  }
  t.count[s]++;
  if (value == value) {
    t.sum[s] += value;
    t.nn[s]++;
    if (value < t.min[s]) t.min[s] = value;
    if (value > t.max[s]) t.max[s] = value;
  }
  return true;
}

bool GetU8(const Napi::CallbackInfo& info, size_t i, const char* what, uint8_t** d, size_t* len) {
  return GetArray<uint8_t, napi_uint8_array>(info, i, what, d, len);
}

// Reads the table's 8 arrays from info[at..at+7]; checks they hold a power-of-two capacity.
bool GetTable(const Napi::CallbackInfo& info, size_t at, Table* t) {
  size_t l[8];
  if (!GetU8(info, at, "used", &t->used, &l[0]) || !GetU32(info, at + 1, "keys", &t->keys, &l[1]) ||
      !GetF64(info, at + 2, "starts", &t->starts, &l[2]) || !GetF64(info, at + 3, "count", &t->count, &l[3]) ||
      !GetF64(info, at + 4, "sum", &t->sum, &l[4]) || !GetF64(info, at + 5, "n", &t->nn, &l[5]) ||
      !GetF64(info, at + 6, "min", &t->min, &l[6]) || !GetF64(info, at + 7, "max", &t->max, &l[7])) {
    return false;
  }
  const size_t cap = l[0];
  bool ok = cap >= 2 && (cap & (cap - 1)) == 0 && cap <= 0x80000000u;
  for (int k = 1; k < 8; k++) ok = ok && l[k] >= cap;
  if (!ok) {
    Napi::RangeError::New(info.Env(), "window table arrays: used.length must be a power of two and no array shorter")
        .ThrowAsJavaScriptException();
    return false;
  }
  t->cap = static_cast<double>(cap);
  t->mask = static_cast<uint32_t>(cap - 1);
  t->lastStart = std::numeric_limits<double>::quiet_NaN();
  t->lastTerm = 0;
  return true;
}

bool GetIo(const Napi::CallbackInfo& info, size_t i, double** io) {
  size_t len;
  if (!GetF64(info, i, "io", io, &len)) return false;
  if (len < IO_WORDS) {
    Napi::RangeError::New(info.Env(), "io must hold at least 20 words").ThrowAsJavaScriptException();
    return false;
  }
  return true;
}

// Reads io[IO_FROM], io[IO_N]: 0 <= from <= n <= capacity, integers.
bool GetRange(const Napi::CallbackInfo& info, const double* io, size_t capacity, size_t* from, size_t* n) {
  const double f = io[IO_FROM], v = io[IO_N];
  if (!(v >= 0 && v <= static_cast<double>(capacity) && v == std::floor(v) && f >= 0 && f <= v && f == std::floor(f))) {
    Napi::RangeError::New(info.Env(), "io: need 0 <= from <= n <= capacity (the shortest array's length), integers")
        .ThrowAsJavaScriptException();
    return false;
  }
  *from = static_cast<size_t>(f);
  *n = static_cast<size_t>(v);
  return true;
}

// windowAddBatch(used, keys, starts, count, sum, n, min, max, inKeys, inStarts, inValues, io):
// WindowTable.add(inKeys[i], inStarts[i], inValues[i]) for io[FROM] <= i < io[N]; stops with
// kNeedGrow at the first record that needs the table to grow (io[NEXT] = that record).
Napi::Value WindowAddBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 12) {
    Napi::TypeError::New(env, "windowAddBatch needs 12 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  Table t;
  uint32_t* inKeys;
  double *inStarts, *inValues, *io;
  size_t l8, l9, l10, from, n;
  if (!GetTable(info, 0, &t) || !GetU32(info, 8, "inKeys", &inKeys, &l8) ||
      !GetF64(info, 9, "inStarts", &inStarts, &l9) || !GetF64(info, 10, "inValues", &inValues, &l10) ||
      !GetIo(info, 11, &io) || !GetRange(info, io, Min(l8, Min(l9, l10)), &from, &n)) {
    return env.Undefined();
  }
  t.size = io[IO_SIZE];
  t.minStart = io[IO_MIN_START];
  t.sizeMs = io[IO_SIZE_MS];
  size_t i = from;
  int status = kDone;
  for (; i < n; i++) {
    if (!TableAdd(t, inKeys[i], inStarts[i], inValues[i])) {
      status = kNeedGrow;
      break;
    }
  }
  io[IO_STATUS] = status;
  io[IO_NEXT] = static_cast<double>(i);
  io[IO_SIDES] = 0;
  io[IO_OUT_SIZE] = t.size;
  io[IO_OUT_MIN_START] = t.minStart;
  return env.Undefined();
}

// --- driver-tracking's shard chain: src/pipelines/driver-tracking/shard.ts, operation for operation

constexpr double MS_PER_HOUR = 3600000;
// speedBoundDecision's constants (geo.ts).
constexpr double MAX_ABS_LAT_DEG_SQ = 80 * 80;
constexpr double MAX_DELTA_DEG_SQ = 2 * 2;
constexpr double MIN_THETA = 1e-100;
constexpr double MAX_THETA = 0.05;
constexpr double BAND = 1e-7;
constexpr double THETA_PER_KMH_MS = 1 / (MS_PER_HOUR * DIAMETER_KM);
constexpr double Q4 = -1.0 / 3;
constexpr double Q6 = 2.0 / 45;
constexpr double C2 = -1.0 / 2;
constexpr double C4 = 1.0 / 24;
constexpr double C6 = -1.0 / 720;
constexpr double C8 = 1.0 / 40320;
constexpr double C10 = -1.0 / 3628800;
constexpr double C12 = 1.0 / 479001600;
enum { SPEED_WITHIN = 0, SPEED_EXCEEDS = 1, SPEED_UNDECIDED = -1 };

inline int SpeedBoundDecision(double lat1, double lon1, double ts1Ms, double lat2, double lon2, double ts2Ms,
                              double limitKmh) {
  const double theta = limitKmh * (ts2Ms - ts1Ms) * THETA_PER_KMH_MS;
  const double dLat = lat2 - lat1;
  const double dLon = lon2 - lon1;
  if (!(limitKmh > 0 && theta >= MIN_THETA && theta <= MAX_THETA && dLat * dLat <= MAX_DELTA_DEG_SQ &&
        dLon * dLon <= MAX_DELTA_DEG_SQ && lat1 * lat1 <= MAX_ABS_LAT_DEG_SQ)) {
    return SPEED_UNDECIDED;
  }
  const double u = dLat * HALF_DEG_TO_RAD;
  const double v = dLon * HALF_DEG_TO_RAD;
  const double m = (lat1 + lat2) * HALF_DEG_TO_RAD;
  const double u2 = u * u;
  const double v2 = v * v;
  const double m2 = m * m;
  const double t2 = theta * theta;
  const double sin2U = u2 * (1 + u2 * (Q4 + u2 * Q6));
  const double cosM = 1 + m2 * (C2 + m2 * (C4 + m2 * (C6 + m2 * (C8 + m2 * (C10 + m2 * C12)))));
  const double a = sin2U + (cosM * cosM - sin2U) * (v2 * (1 + v2 * (Q4 + v2 * Q6)));
  const double sin2Theta = t2 * (1 + t2 * (Q4 + t2 * Q6));
  if (a < sin2Theta * (1 - BAND)) return SPEED_WITHIN;
  if (a > sin2Theta * (1 + BAND)) return SPEED_EXCEEDS;
  return SPEED_UNDECIDED;
}

inline bool SpeedExceedsKmh(double lat1, double lon1, double ts1Ms, double lat2, double lon2, double ts2Ms,
                            double limitKmh) {
  const int decision = SpeedBoundDecision(lat1, lon1, ts1Ms, lat2, lon2, ts2Ms, limitKmh);
  if (decision != SPEED_UNDECIDED) return decision == SPEED_EXCEEDS;
  return HaversineKm(lat1, lon1, lat2, lon2) / ((ts2Ms - ts1Ms) / MS_PER_HOUR) > limitKmh;
}

// JS Math.round: the nearest integer, halves towards +Infinity, -0 kept (V8: ceil, then step back).
inline double JsRound(double x) {
  double r = std::ceil(x);
  if (r - 0.5 > x) r -= 1;
  return r;
}

// Tags of the side outputs written to `sides` (4 words each: record index, tag, detail, detail2).
enum SideTag { SIDE_INVALID = 1, SIDE_ANOMALY = 2, SIDE_LATE = 3 };

// driverTrackingBatch(driverId, lat, lon, ts, speedKmh, wm, reason, lastLat, lastLon, lastTs,
//                     used, keys, starts, count, sum, n, min, max, sides, io,
//                     lastRegion, movedIn, moved)
// DriverTrackingShard.process's pass 1 and 2 fused, for io[FROM] <= i < io[N]: geohash region,
// anomaly, late, window table, the driver's last fix. Side outputs go to `sides` in record order
// for the caller to emit. With io[POSITIONS] = 1, also the shard's `positions` bookkeeping: the
// region of each driver's last fix, and the list of drivers whose last fix moved in this batch
// (io[BATCH_NO]), in first-move order. Stops before a record whose driver id is beyond the
// per-driver arrays (kNeedDrivers) or whose window entry needs the table to grow (kNeedGrow);
// io[NEXT] is that record.
Napi::Value DriverTrackingBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 23) {
    Napi::TypeError::New(env, "driverTrackingBatch needs 23 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t* driverId;
  double *lat, *lon, *ts, *speed, *wmCol, *lastLat, *lastLon, *lastTs, *sides, *io;
  uint8_t* reason;
  size_t l[11];
  Table t;
  if (!GetU32(info, 0, "driverId", &driverId, &l[0]) || !GetF64(info, 1, "lat", &lat, &l[1]) ||
      !GetF64(info, 2, "lon", &lon, &l[2]) || !GetF64(info, 3, "ts", &ts, &l[3]) ||
      !GetF64(info, 4, "speedKmh", &speed, &l[4]) || !GetF64(info, 5, "wm", &wmCol, &l[5]) ||
      !GetU8(info, 6, "reason", &reason, &l[6]) || !GetF64(info, 7, "lastLat", &lastLat, &l[7]) ||
      !GetF64(info, 8, "lastLon", &lastLon, &l[8]) || !GetF64(info, 9, "lastTs", &lastTs, &l[9]) ||
      !GetTable(info, 10, &t) || !GetF64(info, 18, "sides", &sides, &l[10]) || !GetIo(info, 19, &io)) {
    return env.Undefined();
  }
  uint32_t *lastRegion, *moved;
  double* movedIn;
  size_t lRegion, lMovedIn, lMoved;
  if (!GetU32(info, 20, "lastRegion", &lastRegion, &lRegion) || !GetF64(info, 21, "movedIn", &movedIn, &lMovedIn) ||
      !GetU32(info, 22, "moved", &moved, &lMoved)) {
    return env.Undefined();
  }
  const bool positions = io[IO_POSITIONS] == 1;
  size_t from, n;
  const size_t columns = Min(Min(Min(l[0], l[1]), Min(l[2], l[3])), Min(Min(l[4], l[5]), l[6]));
  if (!GetRange(info, io, Min(Min(columns, l[10] / 4), positions ? lMoved : columns), &from, &n)) return env.Undefined();
  size_t drivers = Min(l[7], Min(l[8], l[9]));
  if (positions) drivers = Min(drivers, Min(lRegion, lMovedIn));
  const double batchNo = io[IO_BATCH_NO];
  const double movedAtStart = io[IO_MOVED];
  if (positions && !(movedAtStart >= 0 && movedAtStart <= static_cast<double>(lMoved) && movedAtStart == std::floor(movedAtStart))) {
    Napi::RangeError::New(env, "io: moved count out of range").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t movedCount = positions ? static_cast<size_t>(movedAtStart) : 0;
  const double pv = io[IO_PRECISION];
  if (!(pv >= 1 && pv <= GEOHASH_INT_MAX_PRECISION && pv == std::floor(pv))) {
    Napi::RangeError::New(env, "io: precision must be an integer in 1..6").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const int p = static_cast<int>(pv);
  const double lonScale = kTables.lonScale[p], latScale = kTables.latScale[p];
  const double lonStep = kTables.lonStep[p], latStep = kTables.latStep[p];
  const int32_t lonLast = kTables.lonLast[p], latLast = kTables.latLast[p];
  const int lonShift = kTables.lonShift[p], latShift = lonShift ^ 1;

  t.size = io[IO_SIZE];
  t.minStart = io[IO_MIN_START];
  const double windowMs = io[IO_SIZE_MS];
  t.sizeMs = windowMs;
  const double graceMs = io[IO_GRACE_MS];
  const double maxSpeedKmh = io[IO_MAX_SPEED_KMH];
  const double speedScale = io[IO_SPEED_SCALE];
  // shard.ts's constants, computed the same way.
  const double RAD = 3.141592653589793 / 180;
  const double FOUR_R2 = 4 * EARTH_RADIUS_KM * EARTH_RADIUS_KM;
  const double KM_PER_MS = maxSpeedKmh / 3600000;
  const double SAFETY = 1 - 1e-9;

  size_t sideCount = 0;
  int status = kDone;
  double winStart = std::numeric_limits<double>::quiet_NaN();
  size_t i = from;
  for (; i < n; i++) {
    if (reason[i] != 0) {
      double* e = sides + 4 * sideCount++;
      e[0] = static_cast<double>(i); e[1] = SIDE_INVALID; e[2] = 0; e[3] = 0;
      continue;
    }
    const uint32_t d = driverId[i];
    if (d >= drivers) {
      status = kNeedDrivers;
      break;
    }
    const double la = lat[i];
    const double lo = lon[i];
    const double tm = ts[i];
    const double lt = lastTs[d];
    if (tm > lt) {
      const double dp = (la - lastLat[d]) * RAD;
      const double dl = (lo - lastLon[d]) * RAD;
      const double y2 = (dp * dp + dl * dl) * 0.25;
      const double allowed = (tm - lt) * KM_PER_MS;
      if (!(y2 < 0.25 && FOUR_R2 * y2 < allowed * allowed * (1 - y2) * SAFETY) &&
          SpeedExceedsKmh(lastLat[d], lastLon[d], lt, la, lo, tm, maxSpeedKmh)) {
        const double kmh = HaversineKm(lastLat[d], lastLon[d], la, lo) / ((tm - lt) / 3600000);
        double* e = sides + 4 * sideCount++;
        e[0] = static_cast<double>(i); e[1] = SIDE_ANOMALY; e[2] = kmh; e[3] = lt;
        continue;
      }
    }
    if (!(tm >= winStart + 1 && tm < winStart + windowMs - 1)) winStart = std::floor(tm / windowMs) * windowMs;
    const double start = winStart;
    const double wm = wmCol[i];
    if (start + windowMs + graceMs <= wm) {
      double* e = sides + 4 * sideCount++;
      e[0] = static_cast<double>(i); e[1] = SIDE_LATE; e[2] = wm; e[3] = start;
      continue;
    }
    const uint32_t lonCell = static_cast<uint32_t>(CellIndex(lo, -180, lonScale, lonStep, lonLast));
    const uint32_t latCell = static_cast<uint32_t>(CellIndex(la, -90, latScale, latStep, latLast));
    const uint32_t region = (Spread15(lonCell) << lonShift) | (Spread15(latCell) << latShift);
    const double sp = speed[i];
    if (!TableAdd(t, region, start, sp - sp == 0 ? JsRound(sp * speedScale) : std::numeric_limits<double>::quiet_NaN())) {
      status = kNeedGrow;
      break;
    }
    if (!(lt >= tm)) {
      lastTs[d] = tm;
      lastLat[d] = la;
      lastLon[d] = lo;
      if (positions) {
        lastRegion[d] = region;
        // Each driver once per batch; a batch holds ≤ n ≤ lMoved records, so this stays in bounds.
        if (movedIn[d] != batchNo && movedCount < lMoved) {
          movedIn[d] = batchNo;
          moved[movedCount++] = d;
        }
      }
    }
  }
  if (positions) io[IO_MOVED] = static_cast<double>(movedCount);
  io[IO_STATUS] = status;
  io[IO_NEXT] = static_cast<double>(i);
  io[IO_SIDES] = static_cast<double>(sideCount);
  io[IO_OUT_SIZE] = t.size;
  io[IO_OUT_MIN_START] = t.minStart;
  return env.Undefined();
}

// --- the DSL batch plan's fused record loop: src/dsl/batch-plan.ts processFused, for a plan of
// built-in steps and tumbling windows (src/dsl/batch-native.ts decides and drives it)

// dslFusedBatch's io words (src/dsl/batch-native.ts D_*): inputs, in/out state, results.
enum DslIo {
  D_FROM = 0, D_N = 1, D_SIZE = 2, D_MIN_START = 3, D_NEXT_SEQ = 4, D_WATERMARK = 5,  // in/out
  D_SIZE_MS = 6, D_GRACE_MS = 7, D_LIMIT = 8, D_KEY_GEOHASH = 9, D_PRECISION = 10, D_HAS_VALUE = 11,
  D_STEPS = 12, D_MAX_KMH = 13, D_STRIDE = 14, D_O_LAT = 15, D_O_LON = 16, D_O_TS = 17, D_STORE_ROWS = 18,
  D_RAD = 19, D_FOUR_R2 = 20, D_SAFETY = 21,
  D_STATUS = 22, D_NEXT = 23, D_SIDES = 24, D_LIVE_ADDED = 25,  // out
  D_ROW_WORDS = 26,  // in: the window table's words per entry, 9 or 7 (no min and max)
  D_WORDS = 32,
};
// Why dslFusedBatch stopped before record io[D_NEXT] (kDslDone: the batch is through).
enum DslStatus { kDslDone = 0, kDslNeedGrow = 1, kDslNeedStore = 2, kDslNeedClose = 3 };
// The record loop's steps (batch-plan.ts STEP_*) and the side-output tags (6 words each: record,
// tag, step, a, b, c).
enum DslStep { kStepFilter = 0, kStepFilterNot = 1, kStepCheck = 2, kStepSpeed = 3 };
enum DslSide { kSideInvalid = 1, kSideCheck = 2, kSideSpeed = 3, kSideLate = 4 };
// A BatchWindowTable row (batch-plan.ts W_*): 9 words per slot, or 7 without min and max (a count,
// sum or mean never reads them); the latest timestamp and the insertion number are its last two.
enum { W_KEY = 0, W_START = 1, W_COUNT = 2, W_SUM = 3, W_N = 4, W_MIN = 5, W_MAX = 6 };

struct DslBatch {
  const uint32_t* key;
  const double *ts, *wm, *lat, *lon, *value;
  const uint8_t* reason;
  double* store;
  uint8_t* used;
  double* rows;
  double* sides;
  uint32_t mask;
  double cap;
  // Every step reads the same lat/lon (fusedSteps), so a record's fate is decided by whether its
  // fix is valid: the first step that drops a valid fix (a filterNot), the first that drops or
  // flags an invalid one (a filter or checkLatLon); the speed step runs when it comes before that.
  size_t stopValid, stopInvalid, speedStep;
  bool checkValid, checkInvalid;  // the stopping step is checkLatLon (flags), not a filter
  int p, lonShift, latShift;
  double lonScale, latScale, lonStep, latStep;
  int32_t lonLast, latLast;
  double sizeMs, graceMs, limit, maxKmh, storeRows, rad, fourR2, safety;
  size_t stride, oLat, oLon, oTs;
};

struct DslState {
  double size, minStart, nextSeq, watermark, liveAdded;
  size_t sides;
  int status;
};

// The window key of record q: its geohash code + 2^31 (< 2^32 at precision <= 6), or its key.
template <bool kGeohash>
inline uint32_t DslKey(const DslBatch& b, size_t q) {
  if (!kGeohash) return b.key[q];
  const uint32_t lonCell = static_cast<uint32_t>(CellIndex(b.lon[q], -180, b.lonScale, b.lonStep, b.lonLast));
  const uint32_t latCell = static_cast<uint32_t>(CellIndex(b.lat[q], -90, b.latScale, b.latStep, b.latLast));
  return ((Spread15(lonCell) << b.lonShift) | (Spread15(latCell) << b.latShift)) + 0x80000000u;
}

inline void DslSideOut(double* sides, DslState& st, size_t i, int tag, double j, double a, double b, double c) {
  double* e = sides + 6 * st.sides++;
  e[0] = static_cast<double>(i); e[1] = tag; e[2] = j; e[3] = a; e[4] = b; e[5] = c;
}

// processFused's loop for records from..n-1; returns the record it stopped before (st.status why).
template <bool kGeohash, bool kSpeed, bool kValue, bool kMinMax>
size_t DslLoop(const DslBatch& batch, DslState& st, size_t from, size_t n) {
  constexpr size_t kW = kMinMax ? 9 : 7;
  constexpr size_t W_MAXTS = kW - 2, W_SEQ = kW - 1;
  // A local copy: the compiler then knows the stores to the rows and the store cannot change its
  // fields, and keeps them in registers instead of reloading them after every store.
  const DslBatch b = batch;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  const double sizeMs = b.sizeMs, graceMs = b.graceMs;
  const double closeAfter = sizeMs + graceMs;
  const double kmPerMs = b.maxKmh / 3600000;
  double watermark = st.watermark;
  double minStart = st.minStart;
  double spStart = nan;
  // windowRange's cache (tumbling: advance = size), as processFused keeps it; home()'s term cache.
  double rangeFirst = 0, rangeLo = inf, rangeHi = -inf;
  double lastStart = nan;
  uint32_t lastTerm = 0;
  // Each record's window key, computed kAhead records early into a ring, where the loop also
  // prefetches that record's store row and the home slot of its window (at the current window
  // start: times come mostly in order), so that the waits for them overlap the records between.
  constexpr size_t kAhead = 8;
  constexpr size_t kRing = 16;
  uint32_t ring[kRing];
  for (size_t q = from; q < n && q < from + kAhead; q++) ring[q % kRing] = DslKey<kGeohash>(b, q);
  size_t i = from;
  for (; i < n; i++) {
    if (i + kAhead < n) {
      const size_t q = i + kAhead;
      const uint32_t kq = DslKey<kGeohash>(b, q);
      ring[q % kRing] = kq;
      if (kSpeed && static_cast<double>(b.key[q]) < b.storeRows) __builtin_prefetch(b.store + static_cast<size_t>(b.key[q]) * b.stride);
      uint32_t h = (kq ^ lastTerm) * 0x85ebca6bu;
      h ^= h >> 13;
      h *= 0xc2b2ae35u;
      h ^= h >> 16;
      __builtin_prefetch(b.rows + (h & b.mask) * kW);
    }
    if (b.reason[i] != 0) {
      DslSideOut(b.sides, st, i, kSideInvalid, 0, 0, 0, 0);
      continue;
    }
    const double w = b.wm[i];
    if (w > watermark) {
      watermark = w;
      if (w - sizeMs - graceMs >= minStart) {
        st.status = kDslNeedClose;
        break;
      }
    }
    const double t = b.ts[i];
    if (b.stopInvalid != static_cast<size_t>(-1)) {  // some step
      const double la = b.lat[i];
      const double lo = b.lon[i];
      // validLatLon
      const bool valid = la - la == 0 && lo - lo == 0 && la >= -90 && la <= 90 && lo >= -180 && lo <= 180 &&
                         !(la == 0 && lo == 0);
      const size_t stop = valid ? b.stopValid : b.stopInvalid;
      if (kSpeed && b.speedStep < stop) {
        const uint32_t id = b.key[i];
        if (static_cast<double>(id) >= b.storeRows) {
          st.status = kDslNeedStore;
          break;
        }
        double* r = b.store + static_cast<size_t>(id) * b.stride;
        const double lt = r[b.oTs];
        if (t > lt) {
          const double pla = r[b.oLat];
          const double plo = r[b.oLon];
          const double dp = (la - pla) * b.rad;
          const double dl = (lo - plo) * b.rad;
          const double y2 = (dp * dp + dl * dl) * 0.25;
          const double allowed = (t - lt) * kmPerMs;
          if (!(y2 < 0.25 && b.fourR2 * y2 < allowed * allowed * (1 - y2) * b.safety) &&
              SpeedExceedsKmh(pla, plo, lt, la, lo, t, b.maxKmh)) {
            DslSideOut(b.sides, st, i, kSideSpeed, static_cast<double>(b.speedStep), pla, plo, lt);
            continue;
          }
        }
        if (!(t >= spStart + 1 && t < spStart + sizeMs - 1)) spStart = std::floor(t / sizeMs) * sizeMs;
        if (!(lt >= t) && spStart + closeAfter > watermark) {
          r[b.oTs] = t;
          r[b.oLat] = la;
          r[b.oLon] = lo;
          if (r[0] != 1) {
            r[0] = 1;
            st.liveAdded++;
          }
        }
      }
      if (stop != static_cast<size_t>(-2)) {  // a step drops it (or flags it: checkLatLon)
        if (valid ? b.checkValid : b.checkInvalid) DslSideOut(b.sides, st, i, kSideCheck, static_cast<double>(stop), 0, 0, 0);
        continue;
      }
    }
    const uint32_t k32 = ring[i % kRing];
    const double k = static_cast<double>(k32);
    const double x = kValue ? b.value[i] : nan;
    if (!(t >= rangeLo && t < rangeHi)) {
      const double raw = std::floor((t - sizeMs) / sizeMs) * sizeMs + sizeMs;
      rangeFirst = raw > 0 ? raw : 0;  // Math.max(0, raw)
      if (raw >= 0) {
        rangeLo = raw - sizeMs + sizeMs + 1;
        rangeHi = raw + sizeMs - 1;
      } else {
        rangeLo = inf;
        rangeHi = -inf;
      }
    }
    bool missed = false;
    bool grow = false;
    for (double s = rangeFirst; s <= t; s += sizeMs) {
      if (s + sizeMs + graceMs <= watermark) {
        missed = true;
        continue;
      }
      // BatchWindowTable.home (its start term cached as there) and the probe.
      if (s != lastStart) {
        lastStart = s;
        lastTerm = (ToInt32Bits(s / 1000) * 0x9e3779b1u) ^ ToInt32Bits(s);
      }
      uint32_t h = (k32 ^ lastTerm) * 0x85ebca6bu;  // ^ ((k / 2^32) | 0), which is 0 for k < 2^32
      h ^= h >> 13;
      h *= 0xc2b2ae35u;
      h ^= h >> 16;
      uint32_t slot = h & b.mask;
      while (b.used[slot] != 0 && (b.rows[slot * kW + W_KEY] != k || b.rows[slot * kW + W_START] != s)) slot = (slot + 1) & b.mask;
      double* r = b.rows + slot * kW;
      if (b.used[slot] == 0) {
        // BatchWindowTable.insert: full, or growing first, is the caller's (at this record: nothing
        // of it is kept yet but the store's last fix, which the record sets again to the same).
        if (st.size >= b.limit || (st.size + 1) * 2 > b.cap) {
          grow = true;
          break;
        }
        b.used[slot] = 1;
        r[W_KEY] = k;
        r[W_START] = s;
        r[W_COUNT] = 0;
        r[W_SUM] = 0;
        r[W_N] = 0;
        if (kMinMax) {
          r[W_MIN] = inf;
          r[W_MAX] = -inf;
        }
        r[W_MAXTS] = t;
        r[W_SEQ] = st.nextSeq++;
        st.size++;
        if (s < minStart) minStart = s;
      }
      r[W_COUNT]++;
      if (x - x == 0) {
        r[W_SUM] += x;
        r[W_N]++;
        if (kMinMax) {
          if (x < r[W_MIN]) r[W_MIN] = x;
          if (x > r[W_MAX]) r[W_MAX] = x;
        }
      }
      if (t > r[W_MAXTS]) r[W_MAXTS] = t;
    }
    if (grow) {
      st.status = kDslNeedGrow;
      break;
    }
    if (missed) DslSideOut(b.sides, st, i, kSideLate, 0, watermark, 0, 0);
  }
  st.watermark = watermark;
  st.minStart = minStart;
  return i;
}

// DslLoop's variant for the plan: geohash key (4), speed step (2), value column (1).
template <bool kMinMax>
size_t DslVariant(int variant, const DslBatch& b, DslState& st, size_t from, size_t n) {
  switch (variant) {
    case 0: return DslLoop<false, false, false, kMinMax>(b, st, from, n);
    case 1: return DslLoop<false, false, true, kMinMax>(b, st, from, n);
    case 2: return DslLoop<false, true, false, kMinMax>(b, st, from, n);
    case 3: return DslLoop<false, true, true, kMinMax>(b, st, from, n);
    case 4: return DslLoop<true, false, false, kMinMax>(b, st, from, n);
    case 5: return DslLoop<true, false, true, kMinMax>(b, st, from, n);
    case 6: return DslLoop<true, true, false, kMinMax>(b, st, from, n);
    default: return DslLoop<true, true, true, kMinMax>(b, st, from, n);
  }
}

// dslFusedBatch(key, ts, wm, reason, lat, lon, value, steps, store, used, rows, sides, io):
// processFused for io[D_FROM] <= i < io[D_N], in place on the per-key store's rows (Fields.speedLimit)
// and the window table's, operation for operation (the same window starts, hash, probe order,
// entries and sums). Side outputs go to `sides` in record order for the caller to emit. Stops before
// the record that needs JS: a window close (the watermark reached the smallest open start; the
// watermark is already moved), a table that must grow (or is full), a key beyond the store's rows.
Napi::Value DslFusedBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 13) {
    Napi::TypeError::New(env, "dslFusedBatch needs 13 arguments").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  uint32_t* key;
  double *ts, *wmCol, *lat, *lon, *value, *store, *rows, *sides, *io;
  uint8_t *reason, *steps, *used;
  size_t l[13];
  if (!GetU32(info, 0, "key", &key, &l[0]) || !GetF64(info, 1, "ts", &ts, &l[1]) ||
      !GetF64(info, 2, "wm", &wmCol, &l[2]) || !GetU8(info, 3, "reason", &reason, &l[3]) ||
      !GetF64(info, 4, "lat", &lat, &l[4]) || !GetF64(info, 5, "lon", &lon, &l[5]) ||
      !GetF64(info, 6, "value", &value, &l[6]) || !GetU8(info, 7, "steps", &steps, &l[7]) ||
      !GetF64(info, 8, "store", &store, &l[8]) || !GetU8(info, 9, "used", &used, &l[9]) ||
      !GetF64(info, 10, "rows", &rows, &l[10]) || !GetF64(info, 11, "sides", &sides, &l[11])) {
    return env.Undefined();
  }
  size_t ioLen;
  if (!GetF64(info, 12, "io", &io, &ioLen)) return env.Undefined();
  if (ioLen < D_WORDS) {
    Napi::RangeError::New(env, "io must hold at least 32 words").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const double nfv = io[D_STEPS];
  const bool geohash = io[D_KEY_GEOHASH] == 1;
  const bool hasValue = io[D_HAS_VALUE] == 1;
  const size_t cap = l[9];
  const double stride = io[D_STRIDE];
  const double storeRows = io[D_STORE_ROWS];
  const double pv = io[D_PRECISION];
  // 0: a caller from before D_ROW_WORDS, whose tables all have 9-word rows.
  const double rowWords = io[D_ROW_WORDS] == 0 ? 9 : io[D_ROW_WORDS];
  const bool minMax = rowWords == 9;
  bool ok = (rowWords == 9 || rowWords == 7) && cap >= 2 && (cap & (cap - 1)) == 0 && cap <= 0x10000000u &&
            l[10] >= cap * static_cast<size_t>(rowWords) && nfv >= 0 &&
            nfv <= static_cast<double>(l[7]) && nfv == std::floor(nfv) &&
            (!geohash || (pv >= 1 && pv <= GEOHASH_INT_MAX_PRECISION && pv == std::floor(pv)));
  const size_t nf = ok ? static_cast<size_t>(nfv) : 0;
  DslBatch b;
  constexpr size_t kNone = static_cast<size_t>(-2);
  b.stopValid = kNone;
  b.stopInvalid = nf > 0 ? kNone : static_cast<size_t>(-1);  // -1: no steps at all
  b.speedStep = kNone;
  b.checkValid = false;
  b.checkInvalid = false;
  for (size_t j = 0; ok && j < nf; j++) {
    const uint8_t s = steps[j];
    ok = s <= kStepSpeed && !(s == kStepSpeed && b.speedStep != kNone);
    if (s == kStepSpeed) b.speedStep = j;
    if (s == kStepFilterNot && b.stopValid == kNone) b.stopValid = j;
    if ((s == kStepFilter || s == kStepCheck) && b.stopInvalid == kNone) {
      b.stopInvalid = j;
      b.checkInvalid = s == kStepCheck;
    }
  }
  const bool speed = b.speedStep != kNone;
  // The store's rows are [exists, fields…]: lat, lon and ts at their offsets, within a row.
  ok = ok && (!speed || (stride >= 4 && stride == std::floor(stride) && storeRows >= 0 && storeRows == std::floor(storeRows) &&
                         storeRows * stride <= static_cast<double>(l[8]) && io[D_O_LAT] >= 1 && io[D_O_LAT] < stride &&
                         io[D_O_LON] >= 1 && io[D_O_LON] < stride && io[D_O_TS] >= 1 && io[D_O_TS] < stride));
  if (!ok) {
    Napi::RangeError::New(env, "dslFusedBatch: bad table, store, steps or io words").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  size_t columns = Min(Min(Min(l[0], l[1]), Min(l[2], l[3])), l[11] / 6);
  if (nf > 0 || geohash) columns = Min(columns, Min(l[4], l[5]));
  if (hasValue) columns = Min(columns, l[6]);
  size_t from, n;
  if (!GetRange(info, io, columns, &from, &n)) return env.Undefined();
  b.key = key; b.ts = ts; b.wm = wmCol; b.lat = lat; b.lon = lon; b.value = value; b.reason = reason;
  b.store = store; b.used = used; b.rows = rows; b.sides = sides;
  b.mask = static_cast<uint32_t>(cap - 1);
  b.cap = static_cast<double>(cap);
  b.p = geohash ? static_cast<int>(pv) : 1;
  b.lonScale = kTables.lonScale[b.p]; b.latScale = kTables.latScale[b.p];
  b.lonStep = kTables.lonStep[b.p]; b.latStep = kTables.latStep[b.p];
  b.lonLast = kTables.lonLast[b.p]; b.latLast = kTables.latLast[b.p];
  b.lonShift = kTables.lonShift[b.p]; b.latShift = b.lonShift ^ 1;
  b.sizeMs = io[D_SIZE_MS]; b.graceMs = io[D_GRACE_MS]; b.limit = io[D_LIMIT]; b.maxKmh = io[D_MAX_KMH];
  b.storeRows = speed ? storeRows : 0;
  b.rad = io[D_RAD]; b.fourR2 = io[D_FOUR_R2]; b.safety = io[D_SAFETY];
  b.stride = speed ? static_cast<size_t>(stride) : 0;
  b.oLat = speed ? static_cast<size_t>(io[D_O_LAT]) : 0;
  b.oLon = speed ? static_cast<size_t>(io[D_O_LON]) : 0;
  b.oTs = speed ? static_cast<size_t>(io[D_O_TS]) : 0;
  DslState st{io[D_SIZE], io[D_MIN_START], io[D_NEXT_SEQ], io[D_WATERMARK], 0, 0, kDslDone};
  const int variant = (geohash ? 4 : 0) | (speed ? 2 : 0) | (hasValue ? 1 : 0);
  const size_t i = minMax ? DslVariant<true>(variant, b, st, from, n) : DslVariant<false>(variant, b, st, from, n);
  io[D_SIZE] = st.size;
  io[D_MIN_START] = st.minStart;
  io[D_NEXT_SEQ] = st.nextSeq;
  io[D_WATERMARK] = st.watermark;
  io[D_STATUS] = st.status;
  io[D_NEXT] = static_cast<double>(i);
  io[D_SIDES] = static_cast<double>(st.sides);
  io[D_LIVE_ADDED] = st.liveAdded;
  return env.Undefined();
}

// Scalar fdlibm functions, exported so the tests can compare them with Math.* directly.
Napi::Value Sin(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fdlibm::sin(info[0].As<Napi::Number>().DoubleValue()));
}
Napi::Value Cos(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fdlibm::cos(info[0].As<Napi::Number>().DoubleValue()));
}
Napi::Value Asin(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), fdlibm::asin(info[0].As<Napi::Number>().DoubleValue()));
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 3));
  exports.Set("geohashEncodeBatch", Napi::Function::New(env, GeohashEncodeBatch, "geohashEncodeBatch"));
  exports.Set("haversineBatch", Napi::Function::New(env, HaversineBatch, "haversineBatch"));
  exports.Set("etaBatch", Napi::Function::New(env, EtaBatch, "etaBatch"));
  exports.Set("windowAddBatch", Napi::Function::New(env, WindowAddBatch, "windowAddBatch"));
  exports.Set("driverTrackingBatch", Napi::Function::New(env, DriverTrackingBatch, "driverTrackingBatch"));
  exports.Set("dslFusedBatch", Napi::Function::New(env, DslFusedBatch, "dslFusedBatch"));
  exports.Set("sin", Napi::Function::New(env, Sin, "sin"));
  exports.Set("cos", Napi::Function::New(env, Cos, "cos"));
  exports.Set("asin", Napi::Function::New(env, Asin, "asin"));
  return exports;
}

NODE_API_MODULE(riptide_native, Init)
