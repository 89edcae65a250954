using System.Globalization;
using System.Numerics;

namespace QemuTestKit.Machines.Validation.PropertyValues;

/// <summary>Reads an integer the way QEMU's <c>qemu_strtoi64</c>/<c>qemu_strtou64</c> do with base 0 (C's strtoll):
/// leading white space, an optional sign, then decimal, <c>0x</c> hex or <c>0</c>-prefixed octal, and nothing after.</summary>
internal static class IntegerText
{
    private static readonly BigInteger TooLarge = BigInteger.Pow(2, 80);

    public static bool TryParse(string text, out BigInteger value)
    {
        value = BigInteger.Zero;
        var s = text.AsSpan().TrimStart(" \t\n\v\f\r");
        var negative = s.StartsWith("-");
        if (negative || s.StartsWith("+"))
        {
            s = s[1..];
        }

        if (s.Length > 2 && s[0] == '0' && s[1] is 'x' or 'X')
        {
            return TryDigits(s[2..], 16, negative, out value);
        }

        return s.Length > 1 && s[0] == '0' ? TryDigits(s[1..], 8, negative, out value) : TryDigits(s, 10, negative, out value);
    }

    private static bool TryDigits(ReadOnlySpan<char> digits, int radix, bool negative, out BigInteger value)
    {
        value = BigInteger.Zero;
        if (digits.IsEmpty)
        {
            return false;
        }

        foreach (var c in digits)
        {
            if (Digit(c) >= radix)
            {
                return false;
            }
        }

        // Beyond any 64-bit value whatever the radix: a stand-in spares the arithmetic on a huge input.
        if (digits.TrimStart('0').Length > 80)
        {
            value = negative ? -TooLarge : TooLarge;
            return true;
        }

        foreach (var c in digits)
        {
            value = (value * radix) + Digit(c);
        }

        value = negative ? -value : value;
        return true;
    }

    private static int Digit(char c) =>
        char.IsAsciiDigit(c) ? c - '0' : char.IsAsciiHexDigit(c) ? char.ToLowerInvariant(c) - 'a' + 10 : int.MaxValue;

    public static string Format(BigInteger value) => value.ToString(CultureInfo.InvariantCulture);
}
