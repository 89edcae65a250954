namespace QemuTestKit.Machines.Validation.PropertyValues;

/// <summary>A bool, in the words QEMU's <c>qapi_bool_parse</c> takes (case-sensitive).</summary>
internal sealed record BoolValueType : PropertyValueType
{
    private static readonly string[] Words = ["on", "off", "yes", "no", "true", "false", "y", "n"];

    public override string Expected => "on or off (also yes/no, true/false, y/n)";

    public override string Example => "on";

    public override ValueProblem? Judge(string value) =>
        Words.Contains(value, StringComparer.Ordinal) ? null : ValueProblem.NotOfType("is not a bool");
}
