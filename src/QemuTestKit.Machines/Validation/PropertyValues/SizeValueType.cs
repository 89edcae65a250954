using System.Numerics;
using System.Text.RegularExpressions;

namespace QemuTestKit.Machines.Validation.PropertyValues;

/// <summary>
/// A size in bytes, read as QEMU's <c>qemu_strtosz</c> reads it: a decimal number, optionally with a fraction, and an
/// optional suffix B, K, M, G, T, P or E (either case, powers of 1024); or <c>0x</c> hex without a fraction.
/// </summary>
internal sealed partial record SizeValueType : PropertyValueType
{
    private static readonly BigInteger Limit = BigInteger.Pow(2, 64);

    public override string Expected => "a byte count from 0 to 16E - 1, with an optional suffix K, M, G, T, P or E (powers of 1024), or 0x hex";

    public override string Example => "64K or 1M";

    public override ValueProblem? Judge(string value)
    {
        var text = value.TrimStart(' ', '\t', '\n', '\v', '\f', '\r');
        if (text.StartsWith('-'))
        {
            return ValueProblem.OutOfRange("is negative, and a size cannot be");
        }

        if (Hex().Match(text) is { Success: true } hex)
        {
            return Fits(BigInteger.Parse("0" + hex.Groups["digits"].Value, System.Globalization.NumberStyles.HexNumber,
                System.Globalization.CultureInfo.InvariantCulture) * Multiplier(hex.Groups["suffix"].Value));
        }

        var match = Decimal().Match(text);
        if (!match.Success)
        {
            return ValueProblem.NotOfType("is not a size");
        }

        var multiplier = Multiplier(match.Groups["suffix"].Value);
        var fraction = match.Groups["fraction"].Value.TrimEnd('0');
        if (fraction.Length > 0 && multiplier == 1)
        {
            return ValueProblem.NotOfType("is not a size: a fraction needs a suffix of K or more");
        }

        var bytes = (BigInteger.Parse(match.Groups["whole"].Value, System.Globalization.CultureInfo.InvariantCulture) * multiplier)
            + Fraction(fraction, multiplier);
        return Fits(bytes);
    }

    private static ValueProblem? Fits(BigInteger bytes) => bytes < Limit ? null : ValueProblem.OutOfRange("is more than a size can hold (2^64 - 1 bytes)");

    private static BigInteger Multiplier(string suffix) => suffix.ToUpperInvariant() switch
    {
        "K" => BigInteger.Pow(1024, 1),
        "M" => BigInteger.Pow(1024, 2),
        "G" => BigInteger.Pow(1024, 3),
        "T" => BigInteger.Pow(1024, 4),
        "P" => BigInteger.Pow(1024, 5),
        "E" => BigInteger.Pow(1024, 6),
        _ => BigInteger.One,
    };

    // QEMU rounds the fractional bytes half up.
    private static BigInteger Fraction(string digits, BigInteger multiplier)
    {
        if (digits.Length == 0)
        {
            return BigInteger.Zero;
        }

        var denominator = BigInteger.Pow(10, digits.Length);
        return ((BigInteger.Parse(digits, System.Globalization.CultureInfo.InvariantCulture) * multiplier) + (denominator / 2)) / denominator;
    }

    // QEMU 7.2 still takes a suffix after hex, with a deprecation warning; B and E are hex digits there, not suffixes.
    [GeneratedRegex(@"^\+?0[xX](?<digits>[0-9a-fA-F]+)(?<suffix>[kKmMgGtTpP])?$", RegexOptions.CultureInvariant)]
    private static partial Regex Hex();

    [GeneratedRegex(@"^\+?(?<whole>[0-9]+)(\.(?<fraction>[0-9]*))?(?<suffix>[bBkKmMgGtTpPeE])?$", RegexOptions.CultureInvariant)]
    private static partial Regex Decimal();
}
