using System.Security.Cryptography;

namespace QemuTestKit.Tasks.Tests.Support;

/// <summary>A project generated under the feed's root, built with the real <c>dotnet build</c> (Debug, net10.0).</summary>
public sealed class GeneratedProject
{
    /// <summary>What every build of the tests passes: no MSBuild node or build server outlives it, the classic console logger.</summary>
    public static readonly string[] BuildFlags = ["-nodeReuse:false", "--disable-build-servers", "-tl:off", "-v:n"];

    private readonly ProductFeed _feed;

    public GeneratedProject(ProductFeed feed, string directory, string projectFile)
    {
        _feed = feed;
        Directory = directory;
        ProjectFile = projectFile;
    }

    public string Directory { get; }

    public string ProjectFile { get; }

    public string QemuTestKitDirectory => Path.Combine(Directory, "obj", "Debug", "net10.0", "qemutestkit");

    public string Manifest => Path.Combine(Directory, "bin", "Debug", "net10.0", "qemutestkit.machines.json");

    public string StateImage(string machine) => Path.Combine(QemuTestKitDirectory, machine, "state.qcow2");

    public Task<DotnetResult> BuildAsync(params string[] extra) =>
        _feed.RunAsync(Directory, ["build", ProjectFile, .. BuildFlags, .. extra]);

    public Task<DotnetResult> CleanAsync() => _feed.RunAsync(Directory, ["clean", ProjectFile, .. BuildFlags]);

    /// <summary>Copies the test guest's kernel and initrd into the project (for tests that touch them).</summary>
    public (string Kernel, string Initrd) CopyGuest()
    {
        var kernel = Path.Combine(Directory, "vmlinuz");
        var initrd = Path.Combine(Directory, "initramfs.cpio.gz");
        File.Copy(_feed.Kernel, kernel);
        File.Copy(_feed.Initrd, initrd);
        return (kernel, initrd);
    }

    public static string Sha256(string file)
    {
        using var stream = File.OpenRead(file);
        return Convert.ToHexString(SHA256.HashData(stream));
    }
}
