namespace QemuTestKit.Introspection.Processes;

/// <summary>How to start one QEMU process. Arguments are an array, never a shell string.</summary>
public sealed record QemuProcessStartInfo(string Binary, IReadOnlyList<string> Arguments)
{
    public string? WorkingDirectory { get; init; }

    /// <summary>True when QEMU speaks QMP on stdio (<c>-qmp stdio</c>): stdin and stdout become the QMP channel.</summary>
    public bool QmpOnStdio { get; init; }

    /// <summary>Where to copy everything QEMU writes to stderr, besides the in-memory tail.</summary>
    public string? StderrLogPath { get; init; }

    /// <summary>How much of stderr (and of stdout, when it is not QMP) is kept for error messages.</summary>
    public int TailCharacters { get; init; } = 8 * 1024;

    /// <summary>Kill QEMU when this process dies, through <c>setpriv --pdeathsig KILL</c> where available.</summary>
    public bool DieWithParent { get; init; } = true;

    /// <summary>Extra environment variables for QEMU.</summary>
    public IReadOnlyDictionary<string, string>? Environment { get; init; }
}
