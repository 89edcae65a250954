namespace QemuTestKit.Machines.Validation.PropertyValues;

/// <summary>Why QEMU would refuse a property value: the coded error and its wording ("is not an integer").</summary>
internal sealed record ValueProblem(string Code, string Problem, IReadOnlyList<string>? Suggestions = null)
{
    public static ValueProblem NotOfType(string problem) => new(MachineSpecErrorCodes.PropertyValueNotOfType, problem);

    public static ValueProblem OutOfRange(string problem) => new(MachineSpecErrorCodes.PropertyValueOutOfRange, problem);
}
