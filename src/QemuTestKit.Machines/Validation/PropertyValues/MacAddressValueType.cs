using System.Text.RegularExpressions;

namespace QemuTestKit.Machines.Validation.PropertyValues;

/// <summary>A MAC address as qdev's <c>mac</c> property reads it: six pairs of hex digits separated by ':' or '-'.</summary>
internal sealed partial record MacAddressValueType : PropertyValueType
{
    public override string Expected => "six pairs of hex digits separated by ':' or '-'";

    public override string Example => "52:54:00:12:34:56";

    public override ValueProblem? Judge(string value) => Mac().IsMatch(value) ? null : ValueProblem.NotOfType("is not a MAC address");

    [GeneratedRegex("^[0-9a-fA-F]{2}([:-][0-9a-fA-F]{2}){5}$", RegexOptions.CultureInvariant)]
    private static partial Regex Mac();
}
