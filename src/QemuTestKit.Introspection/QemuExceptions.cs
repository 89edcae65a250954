namespace QemuTestKit.Introspection;

/// <summary>Base of the errors this product reports about a QEMU binary. Messages are written for the user.</summary>
public abstract class QemuTestKitException : Exception
{
    protected QemuTestKitException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>The QEMU binary named by the user does not exist, or cannot be run.</summary>
public sealed class QemuBinaryNotFoundException : QemuTestKitException
{
    public QemuBinaryNotFoundException(string requested, string reason)
        : base($"QEMU binary not found: {reason}. Install it ({QemuPackages.InstallHint(requested)}) or pass the full path of a qemu-system-* binary.")
    {
        Requested = requested;
    }

    public string Requested { get; }
}

/// <summary>Asking a binary over QMP failed: it is not a QEMU system emulator, it did not answer in time, or it broke the protocol.</summary>
public sealed class QemuProbeException : QemuTestKitException
{
    public QemuProbeException(string message, Exception? inner = null) : base(message, inner) { }
}
