using System.Globalization;
using System.Text.RegularExpressions;

namespace QemuTestKit.Machines.Validation.PropertyValues;

/// <summary>A PCI address as qdev's <c>addr</c> property reads it: slot[.function], both hex, slot 0-1f, function 0-7.</summary>
internal sealed partial record PciAddressValueType : PropertyValueType
{
    public override string Expected => "a PCI slot and optional function in hex, slot[.function], with slot 00 to 1f and function 0 to 7";

    public override string Example => "06.0 or 06";

    public override ValueProblem? Judge(string value)
    {
        var match = Address().Match(value);
        if (!match.Success)
        {
            return ValueProblem.NotOfType("is not a PCI address");
        }

        var slot = Hex(match.Groups["slot"].Value);
        var function = match.Groups["function"].Success ? Hex(match.Groups["function"].Value) : 0;
        return slot > 0x1f || function > 7 ? ValueProblem.OutOfRange("is out of range") : null;
    }

    // Long digit strings cannot be a valid slot; cap them instead of overflowing.
    private static long Hex(string digits) =>
        digits.TrimStart('0') is var significant && significant.Length > 8 ? long.MaxValue
            : long.Parse("0" + significant, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^(0[xX])?(?<slot>[0-9a-fA-F]+)(\.(0[xX])?(?<function>[0-9a-fA-F]+))?$", RegexOptions.CultureInvariant)]
    private static partial Regex Address();
}
