using System.Text;
using QemuTestKit.Introspection;

namespace QemuTestKit.Machines.Validation;

/// <summary>A machine spec that cannot be used; carries every problem found, so one run shows them all.</summary>
public sealed class MachineSpecValidationException : QemuTestKitException
{
    public MachineSpecValidationException(IReadOnlyList<MachineSpecError> errors)
        : base(Describe(errors))
    {
        Errors = errors;
    }

    public IReadOnlyList<MachineSpecError> Errors { get; }

    private static string Describe(IReadOnlyList<MachineSpecError> errors)
    {
        ArgumentNullException.ThrowIfNull(errors);
        var machines = errors.Select(e => e.Machine).Distinct(StringComparer.Ordinal).ToArray();
        var subject = machines.Length == 1 ? $"machine '{machines[0]}'" : "the machine specs";
        var text = new StringBuilder($"{subject} cannot be used: {errors.Count} problem{(errors.Count == 1 ? "" : "s")}");
        foreach (var error in errors)
        {
            text.Append('\n').Append("  ").Append(error);
        }

        return text.ToString();
    }
}
