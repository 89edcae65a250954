namespace QemuTestKit.Introspection.Qmp;

/// <summary>Base of every failure the QMP layer reports.</summary>
public abstract class QmpException : Exception
{
    protected QmpException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>QEMU answered a command with an error object.</summary>
public sealed class QmpErrorException : QmpException
{
    public QmpErrorException(string command, string errorClass, string description)
        : base($"QMP command '{command}' failed: {errorClass}: {description}")
    {
        Command = command;
        ErrorClass = errorClass;
        Description = description;
    }

    public string Command { get; }

    /// <summary>QEMU's error class, for example <c>GenericError</c> or <c>CommandNotFound</c>.</summary>
    public string ErrorClass { get; }

    /// <summary>QEMU's human-readable description (<c>desc</c>).</summary>
    public string Description { get; }
}

/// <summary>The peer broke the protocol: malformed or truncated JSON, an oversized line, an unexpected message.</summary>
public sealed class QmpProtocolException : QmpException
{
    public QmpProtocolException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The connection closed. When the peer is a process this layer started, carries its exit code and stderr tail.</summary>
public sealed class QmpDisconnectedException : QmpException
{
    public QmpDisconnectedException(string message, QmpPeerExit? peer = null, Exception? inner = null)
        : base(Describe(message, peer), inner)
    {
        Peer = peer;
    }

    public QmpPeerExit? Peer { get; }

    public int? ExitCode => Peer?.ExitCode;

    public string? StderrTail => Peer?.StderrTail;

    private static string Describe(string message, QmpPeerExit? peer)
    {
        if (peer is null)
        {
            return message;
        }

        var exit = peer.ExitCode is { } code ? $"exit code {code}" : "still running";
        var tail = string.IsNullOrWhiteSpace(peer.StderrTail) ? "no stderr output" : $"stderr: {peer.StderrTail.Trim()}";
        return $"{message} ({peer.Description}: {exit}; {tail})";
    }
}

/// <summary>A command or wait did not complete in time. The connection stays usable.</summary>
public sealed class QmpTimeoutException : QmpException
{
    public QmpTimeoutException(string what, TimeSpan timeout)
        : base($"{what} did not complete within {timeout.TotalSeconds:0.###} s")
    {
        Timeout = timeout;
    }

    public TimeSpan Timeout { get; }
}

/// <summary>What is known about the peer process when the connection dropped.</summary>
/// <param name="Description">What the peer is, for messages (for example the binary's path).</param>
/// <param name="ExitCode">The exit code, or null when the process had not exited yet.</param>
/// <param name="StderrTail">The last lines the process wrote to stderr.</param>
public sealed record QmpPeerExit(string Description, int? ExitCode, string StderrTail);
