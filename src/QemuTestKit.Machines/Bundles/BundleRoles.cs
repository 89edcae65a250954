namespace QemuTestKit.Machines.Bundles;

/// <summary>
/// The roles of the files of a replay bundle (<see cref="BundleFile.Role"/>, <see cref="ExternalFile.Role"/>). A writer may
/// use other roles; readers keep them and treat them like any other file.
/// </summary>
public static class BundleRoles
{
    /// <summary>QEMU's record/replay log (<c>rrfile=</c>).</summary>
    public const string ReplayLog = "replay-log";

    /// <summary>The qcow2 image holding the snapshots (start snapshot and checkpoints).</summary>
    public const string StateImage = "state-image";

    /// <summary>A disk overlay written during the recording.</summary>
    public const string DiskOverlay = "disk-overlay";

    /// <summary>The raw console bytes received during the recording.</summary>
    public const string Transcript = "transcript";

    /// <summary>Per console chunk: byte offset, host time and icount.</summary>
    public const string TranscriptChunks = "transcript-chunks";

    /// <summary>QEMU's stderr during the recording.</summary>
    public const string Stderr = "stderr";

    /// <summary>A screenshot taken during the recording.</summary>
    public const string Screenshot = "screenshot";

    /// <summary>The kernel image (<c>-kernel</c>); may be external when large.</summary>
    public const string Kernel = "kernel";

    /// <summary>The initial RAM disk (<c>-initrd</c>); may be external when large.</summary>
    public const string Initrd = "initrd";

    /// <summary>The firmware image (<c>-bios</c>); may be external when large.</summary>
    public const string Firmware = "firmware";

    /// <summary>A base disk image under an overlay; may be external when large.</summary>
    public const string DiskBase = "disk-base";

    /// <summary>Whether files of this role may be referenced by path instead of copied when they are large.</summary>
    public static bool MayBeExternal(string role) => role is Kernel or Initrd or Firmware or DiskBase;
}
