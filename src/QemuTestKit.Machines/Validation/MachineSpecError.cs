namespace QemuTestKit.Machines.Validation;

/// <summary>How bad a problem is: an error stops the machine from being built or started, a warning does not.</summary>
public enum MachineSpecSeverity
{
    Error,
    Warning,
}

/// <summary>
/// One problem in a machine spec, coded so that builds, docs and tests can refer to it (see docs/errors.md).
/// <see cref="Message"/> is the whole story in one sentence; the other properties are its parts, for tools.
/// </summary>
public sealed record MachineSpecError
{
    public MachineSpecError(string code, MachineSpecSeverity severity, string machine, string field, string found, string allowed,
        IReadOnlyList<string> suggestions, string message)
    {
        Code = code;
        Severity = severity;
        Machine = machine;
        Field = field;
        Found = found;
        Allowed = allowed;
        Suggestions = suggestions;
        Message = message;
    }

    /// <summary>The stable code, QTKnnnn (listed in <see cref="MachineSpecErrorCodes"/>).</summary>
    public string Code { get; }

    public MachineSpecSeverity Severity { get; }

    /// <summary>The name of the machine the spec describes, as given.</summary>
    public string Machine { get; }

    /// <summary>Where in the spec: "MachineType", "Devices[2].Type", "Devices[2].Properties.speed", "Disks[0].Path"...</summary>
    public string Field { get; }

    /// <summary>What the spec says there.</summary>
    public string Found { get; }

    /// <summary>What would be accepted there, in short.</summary>
    public string Allowed { get; }

    /// <summary>The closest valid names when <see cref="Found"/> looks like a near miss; empty otherwise.</summary>
    public IReadOnlyList<string> Suggestions { get; }

    /// <summary>One readable sentence naming the machine, field, what was found, what is allowed, and any suggestion.</summary>
    public string Message { get; }

    public override string ToString() => $"{Code} {(Severity == MachineSpecSeverity.Warning ? "warning" : "error")}: {Message}";
}
