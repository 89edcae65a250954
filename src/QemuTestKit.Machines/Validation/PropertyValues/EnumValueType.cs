namespace QemuTestKit.Machines.Validation.PropertyValues;

/// <summary>
/// A QAPI enum whose values QEMU lists in the property's description, separated by '/', after any text and a comma
/// ("on/off/auto", "Error handling policy, report/ignore/enospc/stop/auto"). Enums described otherwise are not judged.
/// </summary>
internal sealed record EnumValueType(string Name, IReadOnlyList<string> Values) : PropertyValueType
{
    public override string Expected => $"one of {string.Join(", ", Values)}";

    public override string Example => Values[0];

    public override ValueProblem? Judge(string value) =>
        Values.Contains(value, StringComparer.Ordinal)
            ? null
            : new ValueProblem(MachineSpecErrorCodes.PropertyValueNotInEnum, "is not one of its values", NearMiss.Suggest(value, Values));

    public static EnumValueType? Parse(string type, string description)
    {
        var list = description[(description.LastIndexOf(", ", StringComparison.Ordinal) + 1)..].Trim();
        if (type.Contains('<', StringComparison.Ordinal) || !list.Contains('/', StringComparison.Ordinal) || list.Any(char.IsWhiteSpace))
        {
            return null;
        }

        var values = list.Split('/');
        return values.All(v => v.Length > 0) ? new EnumValueType(type, values) : null;
    }
}
