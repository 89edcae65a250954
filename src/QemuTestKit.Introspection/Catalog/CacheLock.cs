namespace QemuTestKit.Introspection.Catalog;

/// <summary>
/// A cross-process exclusive lock on a file. On Unix, .NET backs <see cref="FileShare.None"/> with flock(2), which
/// the kernel releases when the holder dies, so a killed build never leaves the cache locked.
/// </summary>
internal sealed class CacheLock : IAsyncDisposable
{
    private readonly FileStream _stream;

    private CacheLock(FileStream stream) => _stream = stream;

    public static async Task<CacheLock> AcquireAsync(string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                return new CacheLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken).ConfigureAwait(false);
            }
            catch (IOException e)
            {
                throw new QemuProbeException($"another process has held the catalog cache lock {path} for more than {timeout.TotalSeconds:0} s", e);
            }
        }
    }

    public ValueTask DisposeAsync() => _stream.DisposeAsync();
}
