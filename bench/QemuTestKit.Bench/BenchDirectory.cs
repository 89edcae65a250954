namespace QemuTestKit.Bench;

/// <summary>
/// Where a benchmark keeps its guest state and bundles: the directory <c>--keep DIR</c> names, left in place for a look
/// inside, or a temporary one removed at the end.
/// </summary>
internal sealed class BenchDirectory : IDisposable
{
    public const string KeepOption = "--keep";

    private readonly bool _kept;

    private BenchDirectory(string path, bool kept)
    {
        Path = path;
        _kept = kept;
    }

    public string Path { get; }

    public static BenchDirectory Create(BenchOptions options, string tempPrefix)
    {
        var keep = options.Value(KeepOption, string.Empty);
        return keep.Length > 0
            ? new BenchDirectory(Directory.CreateDirectory(keep).FullName, kept: true)
            : new BenchDirectory(Directory.CreateTempSubdirectory(tempPrefix).FullName, kept: false);
    }

    public void Dispose()
    {
        if (!_kept)
        {
            Directory.Delete(Path, recursive: true);
        }
    }
}
