namespace QemuTestKit.Containers.Tests;

/// <summary>The rewrite that puts QMP and the serial ports of an argument array on the container's published TCP ports.</summary>
public sealed class TcpEndpointsTests
{
    [Fact]
    public void Pipe_pairs_and_the_sockets_of_older_bundles_become_TCP_servers_and_nothing_else_changes()
    {
        var run = QemuPorts.RunDirectory;
        string[] arguments =
        [
            "-qmp", $"unix:{run}/qmp.sock,server=on,wait=off",
            "-chardev", $"pipe,id=serial0,path={run}/serial0",
            "-serial", "chardev:serial0",
            "-chardev", $"socket,id=serial1,path={run}/serial1.sock,server=off",
            "-serial", "chardev:serial1",
            "-chardev", "pipe,id=serial2,path=/elsewhere/serial2",
            "-chardev", $"pipe,id=serial3,path={run}/serial3,extra=1",
        ];

        var rewritten = TcpEndpoints.Rewrite(arguments, serialPorts: 4);

        rewritten.Should().Equal(
            "-qmp", $"tcp:0.0.0.0:{QemuPorts.Qmp},server=on,wait=off,nodelay=on",
            "-chardev", $"socket,id=serial0,host=0.0.0.0,port={QemuPorts.FirstSerial},server=on,wait=on,nodelay=on",
            "-serial", "chardev:serial0",
            "-chardev", $"socket,id=serial1,host=0.0.0.0,port={QemuPorts.FirstSerial + 1},server=on,wait=on,nodelay=on",
            "-serial", "chardev:serial1",
            "-chardev", "pipe,id=serial2,path=/elsewhere/serial2",
            "-chardev", $"pipe,id=serial3,path={run}/serial3,extra=1");
    }
}
