namespace QemuTestKit.Machines.Tests.Recording;

public sealed class ScratchKeepBundle(RecordedSessionFixture fixture) : IClassFixture<RecordedSessionFixture>
{
    [Fact]
    public void Keep()
    {
        var target = "/tmp/gdbexp/session.qtkreplay";
        if (Directory.Exists("/tmp/gdbexp")) Directory.Delete("/tmp/gdbexp", true);
        Directory.CreateDirectory(target);
        foreach (var f in Directory.EnumerateFiles(fixture.BundlePath, "*", SearchOption.AllDirectories))
        {
            var dest = Path.Combine(target, Path.GetRelativePath(fixture.BundlePath, f));
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            File.Copy(f, dest);
        }
    }
}
