"""Print the polynomial coefficients of the kernel's exp (src/softmaxkit/_kernels/sk_exp.h).

exp(r) = 1 + r + r^2 q(r) on |r| <= ln(2)/2, where q approximates
(exp(r) - 1 - r) / r^2. The coefficients come from a Chebyshev interpolant of q
in 60-digit arithmetic, converted to the monomial basis and rounded to double;
the maximal relative error of the rounded polynomial is printed next to them.
The float64 lanes (sk_simd_f64.h) reduce by ln(2)/4 and look 2^(j/4) up in a
table of one register: their q (degree 6) is fitted on |r| <= ln(2)/8 (widened
by 0.1% for the ties of the rounding to kd), and the table is printed as
2^(j/4) = hi (1 + delta): hi rounded to double, and its relative error delta,
which the exp adds to its linear term.
Run: python tools/exp_coefficients.py
"""

import mpmath

mpmath.mp.dps = 60
HALF_LN2 = mpmath.log(2) / 2


def q_exact(r):
    # The Taylor series, not (exp(r) - 1 - r) / r**2, which cancels near r = 0.
    return mpmath.nsum(lambda j: r**j / mpmath.factorial(j + 2), [0, mpmath.inf])


def chebyshev_monomial(degree, half_width=HALF_LN2):
    """Monomial coefficients of the Chebyshev interpolant of q of ``degree`` on |r| <= half_width."""
    n = degree + 1
    nodes = [half_width * mpmath.cos(mpmath.pi * (k + mpmath.mpf(1) / 2) / n) for k in range(n)]
    # Solve the Vandermonde system exactly in high precision: the nodes are the
    # Chebyshev points, so the interpolant is near-minimax.
    matrix = mpmath.matrix([[x**j for j in range(n)] for x in nodes])
    values = mpmath.matrix([q_exact(x) for x in nodes])
    return list(mpmath.lu_solve(matrix, values))


def max_relative_error(coefficients, half_width=HALF_LN2):
    worst = mpmath.mpf(0)
    for i in range(-2000, 2001):
        r = half_width * i / 2000
        q = mpmath.mpf(0)
        for c in reversed(coefficients):
            q = q * r + mpmath.mpf(float(c))
        approx = 1 + r + r * r * q
        worst = max(worst, abs(approx / mpmath.exp(r) - 1))
    return worst


if __name__ == "__main__":
    for label, degree in (("float64 results", 10), ("float32 results", 6)):
        coefficients = chebyshev_monomial(degree)
        print(f"/* {label}: q of degree {degree}, relative error of exp "
              f"{mpmath.nstr(max_relative_error(coefficients), 3)} */")
        for j, c in enumerate(coefficients):
            print(f"    {float(c).hex()},  /* r^{j + 2} */")
    table_half_width = mpmath.log(2) / 8 * mpmath.mpf("1.001")
    coefficients = chebyshev_monomial(6, table_half_width)
    print(f"/* float64 lanes: q of degree 6 on |r| <= ln2/8, relative error of exp "
          f"{mpmath.nstr(max_relative_error(coefficients, table_half_width), 3)} */")
    for j, c in enumerate(coefficients):
        print(f"    {float(c).hex()},  /* r^{j + 2} */")
    print("/* 2^(j/4) = hi (1 + delta), j = 0..3 */")
    for j in range(4):
        exact = mpmath.mpf(2) ** (mpmath.mpf(j) / 4)
        hi = float(exact)
        print(f"    {hi.hex()}, {float(exact / mpmath.mpf(hi) - 1).hex()},")
