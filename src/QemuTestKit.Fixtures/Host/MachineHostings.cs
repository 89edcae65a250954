using System.Collections.Concurrent;
using System.Reflection;
using QemuTestKit.Machines.Manifest;
using QemuTestKit.Machines.Runtime;

namespace QemuTestKit.Fixtures.Host;

/// <summary>
/// The hostings the fixtures can start machines with. <c>local</c> is built in; another host's package is loaded the
/// first time a machine asks for that host, by the name this table gives, and its <see cref="MachineHostingAttribute"/>
/// registers it. <see cref="Register"/> adds one by hand (a host of your own, or a test double).
/// </summary>
public static class MachineHostings
{
    /// <summary>The package that hosts each known host other than <c>local</c>.</summary>
    public static IReadOnlyDictionary<string, string> Packages { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        [MachineHosts.Container] = "QemuTestKit.Fixtures.Containers",
    };

    private static readonly ConcurrentDictionary<string, IMachineHosting> Registered = new(StringComparer.Ordinal);

    /// <summary>Runs machines with <c>Host="<paramref name="host"/>"</c> through <paramref name="hosting"/> from now on.</summary>
    public static void Register(string host, IMachineHosting hosting)
    {
        ArgumentException.ThrowIfNullOrEmpty(host);
        ArgumentNullException.ThrowIfNull(hosting);
        if (host == MachineHosts.Local)
        {
            throw new ArgumentException("the local host is built in and cannot be replaced", nameof(host));
        }

        Registered[host] = hosting;
    }

    /// <summary>The hosting of <paramref name="machine"/>, whose host is not <c>local</c>.</summary>
    /// <exception cref="FixtureException">An unknown host, or a known one whose package the test project does not reference.</exception>
    internal static IMachineHosting For(ManifestMachine machine)
    {
        if (Registered.TryGetValue(machine.Host, out var hosting))
        {
            return hosting;
        }

        if (!Packages.TryGetValue(machine.Host, out var package))
        {
            throw new FixtureException($"machine '{machine.Name}' has Host=\"{machine.Host}\": expected {MachineHosts.Local} or " +
                $"{string.Join(" or ", Packages.Keys)}; fix the QemuMachine item and build again");
        }

        Assembly assembly;
        try
        {
            assembly = Assembly.Load(new AssemblyName(package));
        }
        catch (Exception e) when (e is FileNotFoundException or FileLoadException or BadImageFormatException)
        {
            throw new FixtureException($"machine '{machine.Name}' has Host=\"{machine.Host}\", which needs the package {package}: " +
                $"add it to the test project (dotnet add package {package}) and build again", e);
        }

        foreach (var attribute in assembly.GetCustomAttributes<MachineHostingAttribute>())
        {
            if (Activator.CreateInstance(attribute.Hosting) is IMachineHosting found)
            {
                Registered.TryAdd(attribute.Host, found);
            }
        }

        return Registered.TryGetValue(machine.Host, out hosting)
            ? hosting
            : throw new FixtureException($"machine '{machine.Name}' has Host=\"{machine.Host}\", and {package} ({assembly.GetName().Version}) does not host it: use the same version of {package} as of QemuTestKit.Fixtures");
    }
}
