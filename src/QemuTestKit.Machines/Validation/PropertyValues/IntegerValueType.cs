using System.Globalization;
using System.Numerics;
using System.Text.RegularExpressions;

namespace QemuTestKit.Machines.Validation.PropertyValues;

/// <summary>A QOM integer type in QEMU's own words: int8...int64, uint4...uint64, and "int" (an int64).</summary>
internal sealed partial record IntegerValueType(string Name, bool Signed, int Bits) : PropertyValueType
{
    public BigInteger Min => Signed ? -BigInteger.Pow(2, Bits - 1) : BigInteger.Zero;

    public BigInteger Max => (Signed ? BigInteger.Pow(2, Bits - 1) : BigInteger.Pow(2, Bits)) - 1;

    public override string Expected =>
        $"an integer from {IntegerText.Format(Min)} to {IntegerText.Format(Max)} (decimal, 0x hex or 0-prefixed octal)";

    public override string Example
    {
        get
        {
            var example = BigInteger.Min(Max, 16);
            return example == 16 ? "16 or 0x10" : IntegerText.Format(example);
        }
    }

    public override ValueProblem? Judge(string value)
    {
        if (!IntegerText.TryParse(value, out var number))
        {
            return ValueProblem.NotOfType("is not an integer");
        }

        // QEMU's unsigned parser wraps a negative number around to a huge one; no one means that, so it counts as out of range.
        return number < Min || number > Max ? ValueProblem.OutOfRange("is out of range") : null;
    }

    public static IntegerValueType? Parse(string type)
    {
        if (type == "int")
        {
            return new IntegerValueType(type, Signed: true, Bits: 64);
        }

        var match = IntegerTypeName().Match(type);
        return match.Success && int.Parse(match.Groups["bits"].Value, CultureInfo.InvariantCulture) is var bits and >= 1 and <= 64
            ? new IntegerValueType(type, match.Groups["unsigned"].Success is false, bits)
            : null;
    }

    [GeneratedRegex("^(?<unsigned>u)?int(?<bits>[0-9]{1,2})$", RegexOptions.CultureInvariant)]
    private static partial Regex IntegerTypeName();
}
