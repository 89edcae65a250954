using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Specs;

namespace QemuTestKit.Machines.Validation;

/// <summary>Collects the problems of one spec and words each as one sentence in the same shape.</summary>
internal sealed class ErrorList
{
    private readonly List<MachineSpecError> _errors = [];
    private readonly string _machine;

    public ErrorList(MachineSpec spec, QemuCatalog catalog)
    {
        _machine = spec.Name;
        Emulator = $"{spec.QemuBinary} {catalog.QemuVersion}";
        IntrospectHint = $"run 'qemutestkit introspect --qemu {spec.QemuBinary}' to list them";
    }

    /// <summary>The binary and its version, as messages name it: "qemu-system-x86_64 7.2.22".</summary>
    public string Emulator { get; }

    /// <summary>The command that lists what the binary supports.</summary>
    public string IntrospectHint { get; }

    public IReadOnlyList<MachineSpecError> Errors => _errors;

    /// <summary>Adds a problem worded "machine 'M': FIELD 'FOUND' PROBLEM; did you mean ...? (HINT)".</summary>
    public void Add(string code, string field, string found, string problem, string allowed,
        IReadOnlyList<string>? suggestions = null, string? hint = null)
    {
        suggestions ??= [];
        var message = $"machine '{_machine}': {field} '{found}' {problem}";
        if (suggestions.Count > 0)
        {
            message += $"; did you mean {Alternatives(suggestions)}?";
        }

        if (hint is not null)
        {
            message += $" ({hint})";
        }

        var severity = MachineSpecErrorCodes.Find(code).Severity;
        _errors.Add(new MachineSpecError(code, severity, _machine, field, found, allowed, suggestions, message));
    }

    private static string Alternatives(IReadOnlyList<string> names)
    {
        var quoted = names.Select(n => $"'{n}'").ToArray();
        return quoted.Length == 1 ? quoted[0] : $"{string.Join(", ", quoted[..^1])} or {quoted[^1]}";
    }
}
