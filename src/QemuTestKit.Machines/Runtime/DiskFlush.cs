namespace QemuTestKit.Machines.Runtime;

/// <summary>
/// QEMU writes a run's images with <c>cache=unsafe</c> (its flushes cost nothing during a run); the files that outlive
/// the run, a ready state or a kept bundle, are flushed here once, before they are declared whole.
/// </summary>
internal static class DiskFlush
{
    public static void File(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite, bufferSize: 1);
        stream.Flush(flushToDisk: true);
    }
}
